/*
 * engine/smtp/smtp_ehlo.h: the ESMTP capabilities a server lists in its EHLO
 * reply (RFC 5321 4.1.1.1 and the extensions the client uses or notes).
 */
#ifndef EDM_SMTP_EHLO_H
#define EDM_SMTP_EHLO_H

#define SMTP_CAP_PIPELINING 0x01u /* RFC 2920 */
#define SMTP_CAP_STARTTLS   0x02u /* RFC 3207 */
#define SMTP_CAP_SIZE       0x04u /* RFC 1870 */
#define SMTP_CAP_8BITMIME   0x08u /* RFC 6152 */
#define SMTP_CAP_SMTPUTF8   0x10u /* RFC 6531 */
#define SMTP_CAP_ENHANCED   0x20u /* RFC 2034 ENHANCEDSTATUSCODES */
#define SMTP_CAP_CHUNKING   0x40u /* RFC 3030 (noted, not used) */
#define SMTP_CAP_AUTH_PLAIN 0x80u /* RFC 4954 with PLAIN */
#define SMTP_CAP_AUTH_LOGIN 0x100u

/* text: the reply's lines joined with '\n' (smtp_reply.text); the first
 * line is the server's name. Returns SMTP_CAP_* flags; *size_max gets the
 * SIZE limit (0 when none is given). */
unsigned smtp_ehlo_parse(const char *text, unsigned long *size_max);

#endif
