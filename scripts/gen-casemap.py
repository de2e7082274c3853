#!/usr/bin/python3
# scripts/gen-casemap.py: prints the case tables of templates/casemap.c
# (runs of code points with one offset, and the multi-code-point mappings)
# from Python's Unicode data; paste its output over the tables there,
# then run clang-format -i templates/casemap.c.
import sys
# Simple 1:1 mappings as runs (lo, hi, stride, delta), and full (multi code point) mappings.
def runs(fn):
    pairs=[]; full=[]
    for cp in range(0x110000):
        if 0xD800<=cp<=0xDFFF: continue
        c=chr(cp); m=fn(c)
        if m==c: continue
        if len(m)==1: pairs.append((cp,ord(m)-cp))
        else: full.append((cp,[ord(x) for x in m]))
    rs=[]
    for cp,d in pairs:
        if rs:
            lo,hi,st,dd=rs[-1]
            if dd==d and (st==0 and cp-hi in (1,2) or st and cp-hi==st):
                rs[-1]=(lo,cp,cp-hi,d); continue
        rs.append((cp,cp,0,d))
    return rs,full
up,upf=runs(str.upper); lo,lof=runs(str.lower)
print(len(up),len(upf),len(lo),len(lof),file=sys.stderr)
def emit(name,rs):
    print(f"static const struct case_run {name}[] = {{")
    line="   "
    for (a,b,s,d) in rs:
        ent=f" {{0x{a:X}, 0x{b:X}, {s or 1}, {d}}},"
        if len(line)+len(ent)>99: print(line); line="   "
        line+=ent
    print(line); print("};")
def emitf(name,fs):
    print(f"static const struct case_full {name}[] = {{")
    line="   "
    for (a,m) in fs:
        m=m+[0]*(3-len(m))
        ent=f" {{0x{a:X}, {{0x{m[0]:X}, 0x{m[1]:X}, 0x{m[2]:X}}}}},"
        if len(line)+len(ent)>99: print(line); line="   "
        line+=ent
    print(line); print("};")
import unicodedata
print(f"/* Generated from Unicode {unicodedata.unidata_version} (Python str.upper/str.lower). */")
emit("upper_runs",up); emitf("upper_full",upf); emit("lower_runs",lo); emitf("lower_full",lof)
