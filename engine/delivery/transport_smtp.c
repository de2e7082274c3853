/*
 * engine/delivery/transport_smtp.c: the relay's transport over the ESMTP
 * client (see transport.h): each session wraps one smtp_session and
 * forwards its callbacks, dropping the smtp_session argument the relay has
 * no use for. The wrapper is freed with its session (in or after closed()).
 */
#include "engine/delivery/transport.h"
#include "engine/base/alloc.h"

typedef struct tsmtp {
    smtp_session *s;
    const edm_transport_cbs *cb;
    void *arg;
} tsmtp;

static const smtp_message *on_next(smtp_session *s, void *arg)
{
    (void)s;
    tsmtp *t = arg;
    return t->cb->next(t->arg);
}

static void on_done(smtp_session *s, const smtp_result *r, void *arg)
{
    (void)s;
    tsmtp *t = arg;
    t->cb->done(r, t->arg);
}

static void on_closed(smtp_session *s, const edm_outcome *fail, void *arg)
{
    (void)s;
    tsmtp *t = arg;
    t->cb->closed(fail, t->arg); /* may free t and its session */
}

static void *t_open(void *ctx, uv_loop_t *loop, const smtp_options *o, const edm_transport_cbs *cb,
                    void *arg)
{
    (void)ctx;
    static const smtp_callbacks fwd = {on_next, on_done, on_closed};
    tsmtp *t = edm_calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->cb = cb;
    t->arg = arg;
    if ((t->s = smtp_session_new(loop, o, &fwd, t)) == NULL) {
        edm_free(t);
        return NULL;
    }
    return t;
}

static int t_start(void *s)
{
    return smtp_session_start(((tsmtp *)s)->s);
}

static void t_abort(void *s)
{
    smtp_session_abort(((tsmtp *)s)->s);
}

static void t_kick(void *s)
{
    smtp_session_kick(((tsmtp *)s)->s);
}

static int t_idle(const void *s)
{
    return smtp_session_idle(((const tsmtp *)s)->s);
}

static unsigned t_count(const void *s)
{
    return smtp_session_count(((const tsmtp *)s)->s);
}

static void t_free(void *s)
{
    tsmtp *t = s;
    if (t == NULL)
        return;
    smtp_session_free(t->s);
    edm_free(t);
}

const edm_transport_ops edm_transport_smtp = {
    .name = "smtp",
    .open = t_open,
    .start = t_start,
    .abort = t_abort,
    .kick = t_kick,
    .idle = t_idle,
    .count = t_count,
    .free = t_free,
};
