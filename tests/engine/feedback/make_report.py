# tests/engine/feedback/make_report.py: odd but valid reports built with Python's
# email package (tests/engine/feedback/test_report_python.c): "dsn" gives a
# multipart/report whose text part is base64 UTF-8, whose delivery-status
# fields come in odd case with a folded Diagnostic-Code, and which returns a
# multipart/alternative message; "arf" gives an ARF report whose
# feedback-report is quoted-printable and whose returned headers are base64.
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email import encoders, policy
import sys
orig = EmailMessage()
orig['From'] = 'News <news@example.com>'
orig['To'] = 'x@example.org'
orig['Message-ID'] = '<m-py@example.com>'
orig['Return-Path'] = '<bounces+pytoken1@b.example>'
orig.set_content('hello \u00e9')
orig.add_alternative('<p>hello</p>', subtype='html')
kind = sys.argv[1]
if kind == 'dsn':
    r = MIMEMultipart('report', report_type='delivery-status')
    r.attach(MIMEText('Delivery to x@example.org failed \u2013 permanently', 'plain', 'utf-8'))
    from email.message import Message
    b1 = Message()
    b1['Reporting-MTA'] = 'dns; mx.example.org'
    b2 = Message()
    b2['Final-Recipient'] = 'RFC822; <X@Example.ORG>'
    b2['action'] = 'Failed'
    b2['STATUS'] = '5.1.1 (mailbox does not exist)'
    b2['Diagnostic-Code'] = 'smtp; 550 5.1.1 no such user, the account was closed a long while ago and will not come back'
    ds = MIMEBase('message', 'delivery-status')
    ds.set_payload([b1, b2])
    r.attach(ds)
    r.attach(MIMEMessage(orig))
else:
    r = MIMEMultipart('report', report_type='feedback-report')
    r.attach(MIMEText('abuse report', 'plain', 'us-ascii'))
    fr = MIMEBase('message', 'feedback-report')
    fr.set_payload('Feedback-Type: abuse\nUser-Agent: py/1.0\nVersion: 1\n'
                   'Original-Rcpt-To: <x@example.org>\n')
    encoders.encode_quopri(fr)
    r.attach(fr)
    h = MIMEBase('text', 'rfc822-headers')
    h.set_payload('Message-ID: <m-py@example.com>\nReturn-Path: <bounces+pytoken1@b.example>\n')
    encoders.encode_base64(h)
    r.attach(h)
r['From'] = 'mailer-daemon@example.org'
r['To'] = 'fbl@b.example'
sys.stdout.buffer.write(r.as_bytes(policy=policy.SMTP))
