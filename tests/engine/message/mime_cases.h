/*
 * tests/engine/message/mime_cases.h: the table of messages that test_mime and
 * test_dkim build, each with the values an independent parser must read
 * back (tests/engine/message/mime_check.py compares them), and the helpers that
 * run the independent checkers over a directory of messages.
 */
#ifndef EDM_TEST_MIME_CASES_H
#define EDM_TEST_MIME_CASES_H

#include "engine/base/buf.h"
#include "engine/message/dkim.h"
#include "engine/message/mime.h"

#include <stddef.h>

typedef struct mime_case {
    const char *name;
    edm_mime_msg msg;
    /* What a parser must read back (after sanitising). */
    const char *subject;
    const char *from_name;
    const char *to_name;
    const char *text; /* NULL: no text/plain part */
    size_t text_len;  /* when text holds a NUL; else 0 */
    const char *html; /* NULL: no text/html part */
    const char *content_type;
    const char *cte;      /* of the text parts; NULL: not checked */
    const char *html_cte; /* of the HTML part when it differs from cte */
    int eight_bit;        /* edm_mime_is_8bit must say so */
    const char *header_values[4];
    const char *att_names[4]; /* of every attachment, inline parts too */
    const char *att_types[4];
    const char *tree; /* the MIME tree, "multipart/x(a,b)"; NULL: not checked */
} mime_case;

/* The cases (with lengths filled in); *n gets their count. */
const mime_case *mime_cases(size_t *n);

/* Composes case c into out (and signs it with keys when nkeys > 0),
 * asserting success. */
void mime_case_build(const mime_case *c, edm_mime *m, edm_dkim_signer *s, edm_dkim_key *const *keys,
                     size_t nkeys, edm_buf *out);
/* Writes dir/<prefix><name>.eml and the expectations dir/<prefix><name>.json. */
void mime_case_write(const char *dir, const char *prefix, const mime_case *c, const char *raw,
                     size_t len, size_t nsigs);

/* Runs a checker command and returns its output (malloc'd); asserts it
 * ran (exit status 0). */
char *mime_run_checker(const char *cmd);
/* The independent checkers over every message of dir (output malloc'd,
 * one line per message; each asserts it ran): Python's email package
 * against the .json expectations, dkimpy and mailauth@4 with dir/dns.txt
 * as the DNS. */
char *mime_check_parse(const char *dir);
char *mime_check_dkimpy(const char *dir);
char *mime_check_mailauth(const char *dir);
/* The npm prefix holding mailauth@4 ($EDM_BINARY_DIR/node), installed
 * there on first use; fails the test loudly if npm cannot install it. */
const char *mime_mailauth_prefix(void);
/* Asserts that output has the line "<name> <verdict>..." for name. */
void mime_expect_line(const char *output, const char *name, const char *verdict);

#endif
