/*
 * engine/smtp/smtp_ehlo.c: EHLO reply -> capability flags (see smtp_ehlo.h).
 * Keywords are matched case-insensitively; unknown ones are ignored; the
 * obsolete "AUTH=" form counts as AUTH.
 */
#include "engine/smtp/smtp_ehlo.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

unsigned smtp_ehlo_parse(const char *text, unsigned long *size_max)
{
    unsigned caps = 0;
    *size_max = 0;
    const char *p = text;
    const char *nl = strchr(p, '\n'); /* the first line is the server's name */
    while (nl) {
        p = nl + 1;
        nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char kw[64];
        size_t k = 0;
        while (k < n && k < sizeof kw - 1 && p[k] != ' ' && p[k] != '=') {
            kw[k] = (char)toupper((unsigned char)p[k]);
            k++;
        }
        kw[k] = '\0';
        const char *args = p + k;
        size_t an = n - k;
        if (strcmp(kw, "PIPELINING") == 0)
            caps |= SMTP_CAP_PIPELINING;
        else if (strcmp(kw, "STARTTLS") == 0)
            caps |= SMTP_CAP_STARTTLS;
        else if (strcmp(kw, "8BITMIME") == 0)
            caps |= SMTP_CAP_8BITMIME;
        else if (strcmp(kw, "SMTPUTF8") == 0)
            caps |= SMTP_CAP_SMTPUTF8;
        else if (strcmp(kw, "ENHANCEDSTATUSCODES") == 0)
            caps |= SMTP_CAP_ENHANCED;
        else if (strcmp(kw, "CHUNKING") == 0)
            caps |= SMTP_CAP_CHUNKING;
        else if (strcmp(kw, "SIZE") == 0) {
            caps |= SMTP_CAP_SIZE;
            *size_max = an > 1 ? strtoul(args + 1, NULL, 10) : 0;
        } else if (strcmp(kw, "AUTH") == 0) {
            char mech[32];
            size_t i = 0;
            while (i < an) {
                while (i < an && (args[i] == ' ' || args[i] == '='))
                    i++;
                size_t j = 0;
                while (i < an && args[i] != ' ' && j < sizeof mech - 1)
                    mech[j++] = (char)toupper((unsigned char)args[i++]);
                mech[j] = '\0';
                if (strcmp(mech, "PLAIN") == 0)
                    caps |= SMTP_CAP_AUTH_PLAIN;
                else if (strcmp(mech, "LOGIN") == 0)
                    caps |= SMTP_CAP_AUTH_LOGIN;
                while (i < an && args[i] != ' ')
                    i++;
            }
        }
    }
    return caps;
}
