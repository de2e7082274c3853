/*
 * engine/feedback/report_int.h: shared by report*.c only: text helpers on
 * LF-only text (report.c removes every CR first) and the non-standard
 * bounce forms (report_text.c).
 */
#ifndef EDM_FEEDBACK_REPORT_INT_H
#define EDM_FEEDBACK_REPORT_INT_H

#include "engine/feedback/report.h"

#include <stddef.h>

/* Case-insensitive search of needle in p[0..n); NULL if absent. */
const char *fb_find(const char *p, size_t n, const char *needle);
/* Copies p[0..n) into out[size], trimmed of blanks, cut to fit. */
void fb_copy(char *out, size_t size, const char *p, size_t n);
/* The first RFC 3463 code "c.s.d" (class 2, 4 or 5) in p[0..n) into
 * out[16]; 1 if found. */
int fb_enhanced_in(const char *p, size_t n, char out[16]);
/* The first SMTP reply code (4xx or 5xx, then a space, '-', ": " or end) in
 * p[0..n) at the start of a word; 0 if none. *at gets where it starts. */
int fb_code_in(const char *p, size_t n, const char **at);
/* The first thing that looks like an address (local@domain) in p[0..n)
 * into out[size]; 1 if found. */
int fb_addr_in(const char *p, size_t n, char *out, size_t size);

/* Recognises a non-standard bounce in text (a plain-text body, or the
 * human-readable part of a report without a delivery-status part) and
 * fills r->kind, r->form and one recipient. Returns 1 if recognised. */
int fb_text_bounce(const char *text, size_t n, fb_report *r);

#endif
