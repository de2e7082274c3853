/*
 * engine/config/config_builtin.c: edm's destination rules for the large
 * mailbox providers (docs/config.md, "Built-in provider rules"). Each is an
 * "mx:" rule, so every domain hosted there (Google Workspace, Microsoft
 * 365, Tencent Exmail customers) shares the provider's limits.
 *
 * Entry point: config_add_builtin_domains(), run on the defaults and after
 * the config's domains[] are parsed: a rule whose match the config names
 * itself is the config's (it overrides the built-in one). The limits count
 * per source IP (engine/delivery/relay.c). Values follow what the
 * providers publish or tolerate from a warmed-up IP; operators tune them
 * in their config.
 */
#include "engine/base/alloc.h"
#include "engine/config/config_int.h"

#include <string.h>

static const struct builtin {
    const char *match;
    int max_connections, max_messages_per_connection, max_per_minute;
    const char *backoff_on[4];
    int pause;
} builtins[] = {
    /* Google (gmail.com, Workspace): aspmx.l.google.com, gmail-smtp-in.l.google.com */
    {"mx:*.google.com", 10, 100, 0, {"421", "4.7."}, 300},
    /* Microsoft 365, outlook.com/hotmail.com (*.olc.protection.outlook.com) */
    {"mx:*.protection.outlook.com", 10, 100, 0, {"421", "4.7."}, 300},
    /* Yahoo, AOL: mta5.am0.yahoodns.net */
    {"mx:*.yahoodns.net", 5, 20, 0, {"421", "4.7.", "451"}, 600},
    /* Apple iCloud: mx01.mail.icloud.com */
    {"mx:*.icloud.com", 5, 50, 0, {"421", "4.7."}, 300},
    /* QQ mail and Tencent Exmail: mx1.qq.com, mxbiz1.qq.com */
    {"mx:*.qq.com", 5, 20, 60, {"421", "450", "451", "4.7."}, 600},
    /* NetEase 163.com, 126.com, yeah.net: 163mx01.mxmail.netease.com */
    {"mx:*.netease.com", 5, 20, 60, {"421", "450", "451", "4.7."}, 600},
    /* Sina: freemx1.sinamail.sina.com.cn */
    {"mx:*.sina.com.cn", 3, 20, 30, {"421", "450", "451", "4.7."}, 600},
    /* Sohu: mx.sohu.com */
    {"mx:*.sohu.com", 3, 20, 30, {"421", "450", "451", "4.7."}, 600},
    /* Aliyun / Alibaba mail: mx1.aliyun.com, mxw.mxhichina.com */
    {"mx:*.aliyun.com", 5, 20, 60, {"421", "450", "451", "4.7."}, 600},
    {"mx:*.mxhichina.com", 5, 20, 60, {"421", "450", "451", "4.7."}, 600},
    /* Mail.ru: mxs.mail.ru */
    {"mx:*.mail.ru", 5, 50, 0, {"421", "4.7."}, 300},
    /* GMX and web.de (1&1): mx00.emig.gmx.net, mx-ha03.web.de */
    {"mx:*.gmx.net", 5, 50, 0, {"421", "4.7."}, 300},
    {"mx:*.web.de", 5, 50, 0, {"421", "4.7."}, 300},
};

void config_add_builtin_domains(edm_config *cfg)
{
    size_t nb = sizeof builtins / sizeof builtins[0];
    size_t n = cfg->ndomains;
    cfg->domains = edm_xrealloc(cfg->domains, (n + nb) * sizeof *cfg->domains);
    for (size_t i = 0; i < nb; i++) {
        const struct builtin *b = &builtins[i];
        int named = 0;
        for (size_t k = 0; k < cfg->ndomains && !named; k++)
            named = cfg->domains[k].match && strcmp(cfg->domains[k].match, b->match) == 0;
        if (named)
            continue;
        struct edm_config_domain *d = &cfg->domains[n++];
        memset(d, 0, sizeof *d);
        config_domain_defaults(d, b->match);
        d->on_mx = 1;
        d->builtin = 1;
        d->max_connections = b->max_connections;
        d->max_messages_per_connection = b->max_messages_per_connection;
        d->max_per_minute = b->max_per_minute;
        config_free_strv(d->backoff_on, d->nbackoff_on);
        size_t non = 0;
        while (non < 4 && b->backoff_on[non])
            non++;
        d->backoff_on = edm_xcalloc(non, sizeof *d->backoff_on);
        for (size_t k = 0; k < non; k++)
            d->backoff_on[k] = edm_xstrdup(b->backoff_on[k]);
        d->nbackoff_on = non;
        d->backoff_pause = b->pause;
    }
    cfg->ndomains = n;
}
