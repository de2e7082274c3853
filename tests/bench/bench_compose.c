/*
 * tests/bench/bench_compose.c: the bench-compose program (run by
 * scripts/bench-compose, never by ctest). Composes and DKIM-signs N
 * personalised messages of about 4 KB (HTML + text, non-ASCII display
 * name, List-Unsubscribe with a per-recipient token, VERP return path) per
 * key type on one thread and prints messages per second of process CPU
 * time (user + system, as `openssl speed` divides by CPU time) and of wall
 * time.
 *
 * usage: bench_compose --rsa RSA.pem --ed25519 ED.pem [-n 20000]
 *        bench_compose --sizes
 *
 * --sizes prints the bytes of the same messages (an English HTML
 * newsletter, a Chinese one) in each body encoding edm can choose: all
 * quoted-printable (what edm sent before 7bit/8bit bodies), 7bit/QP (to a
 * server without 8BITMIME) and 7bit/8bit (to one with it); see
 * docs/messages.md. Sizes are of the composed message without its
 * DKIM-Signature field (which weighs the same in every encoding).
 */
#include "engine/message/mime_int.h"
#include "engine/message/dkim.h"
#include "engine/message/mime.h"
#include "engine/message/verp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

static const char html_fmt[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Spring news</title></head>\n"
    "<body style=\"margin:0;padding:0;background:#f4f4f4;font-family:Arial,sans-serif\">\n"
    "<table role=\"presentation\" width=\"100%%\" cellpadding=\"0\" cellspacing=\"0\">\n"
    "<tr><td align=\"center\" style=\"padding:24px 0\">\n"
    "<table role=\"presentation\" width=\"600\" style=\"background:#ffffff;border-radius:6px\">\n"
    "<tr><td style=\"padding:32px 40px;font-size:22px;color:#222\">Hello %s,</td></tr>\n"
    "<tr><td style=\"padding:0 40px 16px;font-size:15px;line-height:1.6;color:#444\">\n"
    "Thank you for being a customer since %d. Our spring collection has arrived and, as a\n"
    "member, you get early access before everyone else. Your personal code is\n"
    "<strong>SPRING-%06d</strong> &mdash; it takes 20&nbsp;%% off everything until Sunday.\n"
    "</td></tr>\n"
    "<tr><td style=\"padding:0 40px 16px;font-size:15px;line-height:1.6;color:#444\">\n"
    "We picked a few things we think you will like, based on your last order (#%d):\n"
    "<ul><li>Linen shirts in six colours, from 39&nbsp;&euro;</li>\n"
    "<li>Lightweight trail shoes, now with recycled soles</li>\n"
    "<li>The bestselling canvas weekender bag, back in stock</li></ul>\n"
    "</td></tr>\n"
    "<tr><td align=\"center\" style=\"padding:8px 40px 32px\">\n"
    "<a href=\"https://shop.example.com/spring?u=%d&amp;utm_source=newsletter&amp;"
    "utm_medium=email&amp;utm_campaign=spring\" style=\"display:inline-block;padding:14px 28px;"
    "background:#1a73e8;color:#ffffff;text-decoration:none;border-radius:4px;font-size:16px\">"
    "Shop the collection</a>\n</td></tr>\n"
    "<tr><td style=\"padding:0 40px 24px;font-size:13px;line-height:1.5;color:#777\">\n"
    "Questions? Reply to this email or call us Monday to Friday, 9:00&ndash;18:00.\n"
    "Free returns within 30 days. Prices include VAT.\n</td></tr>\n"
    "<tr><td style=\"padding:16px 40px;font-size:11px;line-height:1.5;color:#999;"
    "border-top:1px solid #eee\">\n"
    "You receive this email because %s subscribed to news from Example Shop.\n"
    "<a href=\"%s\" style=\"color:#999\">Unsubscribe</a> &middot; "
    "<a href=\"https://shop.example.com/privacy\" style=\"color:#999\">Privacy</a><br>\n"
    "Example Shop GmbH, Hauptstra&szlig;e 1, 10115 Berlin, Germany\n</td></tr>\n"
    "</table>\n</td></tr>\n</table>\n</body></html>\n";

static const char text_fmt[] =
    "Hello %s,\n\n"
    "Thank you for being a customer since %d. Our spring collection has arrived and, as a\n"
    "member, you get early access before everyone else. Your personal code is\n"
    "SPRING-%06d - it takes 20 %% off everything until Sunday.\n\n"
    "We picked a few things we think you will like, based on your last order (#%d):\n"
    "  * Linen shirts in six colours, from 39 €\n"
    "  * Lightweight trail shoes, now with recycled soles\n"
    "  * The bestselling canvas weekender bag, back in stock\n\n"
    "Shop the collection: https://shop.example.com/spring?u=%d&utm_source=newsletter\n\n"
    "Questions? Reply to this email or call us Monday to Friday, 9:00-18:00.\n"
    "Free returns within 30 days. Prices include VAT.\n\n"
    "--\nYou receive this email because %s subscribed to news from Example Shop.\n"
    "Unsubscribe: %s\n"
    "Example Shop GmbH, Hauptstraße 1, 10115 Berlin, Germany\n";

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One recipient's rendered parts (made before the clock starts: rendering
 * is the template engine's cost, measured by its own bench). */
typedef struct rendered {
    char *html, *text;
    int hl, tl;
} rendered;

static const char secret[] = "bench-secret-0123456789abcdef";

static void recipient(int i, char *to, size_t tn, char *name, size_t nn)
{
    snprintf(to, tn, "customer%d@mail%d.example.net", i, i % 97);
    snprintf(name, nn, "Zoë Müller-%d", i);
}

static int ascii_names; /* --sizes: "Zoe Miller", so that the HTML is all ASCII */

static rendered *render_all(int n)
{
    rendered *r = calloc((size_t)n, sizeof *r);
    edm_buf url = EDM_BUF_INIT;
    char to[128], name[128];
    for (int i = 0; r && i < n; i++) {
        recipient(i, to, sizeof to, name, sizeof name);
        if (ascii_names)
            snprintf(name, sizeof name, "Zoe Miller");
        edm_buf_reset(&url);
        char tok[EDM_VERP_TOKEN_MAX];
        edm_verp_token(tok, EDM_VERP_UNSUB, secret, sizeof secret - 1, (uint64_t)i);
        edm_verp_unsub_url(&url, "https://mail.example.com/unsubscribe", tok);
        char html[8192], text[4096];
        r[i].hl = snprintf(html, sizeof html, html_fmt, name, 2010 + i % 15, i, 100000 + i, i, to,
                           url.data);
        r[i].tl = snprintf(text, sizeof text, text_fmt, name, 2010 + i % 15, i, 100000 + i, i, to,
                           url.data);
        r[i].html = strdup(html);
        r[i].text = strdup(text);
    }
    edm_buf_free(&url);
    return r;
}

static int run(const char *label, const rendered *r, edm_dkim_key *const *keys, size_t nkeys, int n)
{
    edm_mime *m = edm_mime_new();
    edm_dkim_signer *s = edm_dkim_signer_new();
    edm_buf msg = EDM_BUF_INIT, sig = EDM_BUF_INIT, url = EDM_BUF_INIT, verp = EDM_BUF_INIT;
    char to[128], name[128], subject[200], mailto[128];
    size_t bytes = 0;
    double c0 = cpu_seconds(), w0 = wall_seconds();
    for (int i = 0; i < n; i++) {
        /* Per recipient: the envelope, the tokens, the headers. */
        recipient(i, to, sizeof to, name, sizeof name);
        snprintf(subject, sizeof subject, "%s, your spring code inside — 20 %% off", name);
        edm_buf_reset(&url);
        edm_buf_reset(&verp);
        char tok[EDM_VERP_TOKEN_MAX];
        if (edm_verp_token(tok, EDM_VERP_UNSUB, secret, sizeof secret - 1, (uint64_t)i) < 0 ||
            edm_verp_unsub_url(&url, "https://mail.example.com/unsubscribe", tok) != 0 ||
            edm_verp_address(&verp, EDM_VERP_BOUNCE, "bounces", "bounce.example.com", secret,
                             sizeof secret - 1, (uint64_t)i) != 0)
            return 1;
        snprintf(mailto, sizeof mailto, "unsub+%s@bounce.example.com", tok);
        edm_mime_msg mm = {.from_addr = "news@example.com",
                           .from_name = "Example Shop",
                           .to_addr = to,
                           .to_name = name,
                           .reply_to = "service@example.com",
                           .subject = subject,
                           .html = r[i].html,
                           .html_len = (size_t)r[i].hl,
                           .text = r[i].text,
                           .text_len = (size_t)r[i].tl,
                           .unsub_mailto = mailto,
                           .unsub_url = url.data,
                           .feedback_id = "spring:c42:example",
                           .date = 1795784761 + i,
                           .allow_8bit = 1};
        edm_buf_reset(&msg);
        edm_buf_reset(&sig);
        if (edm_mime_compose(m, &mm, &msg) != 0) {
            fprintf(stderr, "compose: %s\n", edm_mime_error(m));
            return 1;
        }
        if (nkeys > 0 &&
            edm_dkim_sign(s, keys, nkeys, msg.data, msg.len, 1795784761 + i, &sig) != 0) {
            fprintf(stderr, "sign failed\n");
            return 1;
        }
        bytes += msg.len + sig.len;
    }
    double cpu = cpu_seconds() - c0, wall = wall_seconds() - w0;
    printf("%-24s %6d msgs  avg %5zu bytes  cpu %6.2f s  %8.0f msg/s (cpu)  %8.0f msg/s (wall)\n",
           label, n, bytes / (size_t)n, cpu, n / cpu, n / wall);
    edm_buf_free(&msg);
    edm_buf_free(&sig);
    edm_buf_free(&url);
    edm_buf_free(&verp);
    edm_dkim_signer_free(s);
    edm_mime_free(m);
    return 0;
}

/* A Chinese newsletter: CJK text in HTML with the usual attributes. */
static const char zh_html[] =
    "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
    "<title>春季新品</title></head>\n"
    "<body style=\"margin:0;padding:0;background:#f4f4f4;font-family:'PingFang SC',sans-serif\">\n"
    "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\">\n"
    "<tr><td style=\"padding:32px 40px;font-size:22px;color:#222\">张伟先生，您好：</td></tr>\n"
    "<tr><td style=\"padding:0 40px 16px;font-size:15px;line-height:1.8;color:#444\">\n"
    "感谢您自二零一五年以来一直支持我们。春季新品现已全面上市，作为会员，您可以比其他顾客提前三天选"
    "购。\n"
    "您的专属优惠码是<strong>SPRING-000042</strong>，本周日之前全场商品一律八折。\n"
    "</td></tr>\n"
    "<tr><td style=\"padding:0 40px 16px;font-size:15px;line-height:1.8;color:#444\">\n"
    "根据您上一次的订单，我们为您挑选了以下几款商品：\n"
    "<ul><li>六种颜色的亚麻衬衫，三百九十元起</li>\n"
    "<li>轻量越野跑鞋，鞋底采用再生材料制成</li>\n"
    "<li>畅销帆布旅行包，现已重新到货</li></ul>\n"
    "</td></tr>\n"
    "<tr><td align=\"center\" style=\"padding:8px 40px 32px\">\n"
    "<a href=\"https://shop.example.cn/spring?u=42&amp;utm_source=newsletter\" "
    "style=\"display:inline-block;padding:14px 28px;background:#1a73e8;color:#ffffff;"
    "text-decoration:none;border-radius:4px;font-size:16px\">立即选购</a>\n</td></tr>\n"
    "<tr><td style=\"padding:0 40px 24px;font-size:13px;line-height:1.6;color:#777\">\n"
    "如有任何问题，请直接回复本邮件，或在周一至周五上午九点至下午六点致电客服。三十天内免费退换货。"
    "\n"
    "</td></tr>\n"
    "<tr><td style=\"padding:16px 40px;font-size:11px;color:#999;border-top:1px solid #eee\">\n"
    "您收到这封邮件是因为您订阅了示例商城的新闻。"
    "<a href=\"https://mail.example.cn/u/42\" style=\"color:#999\">退订</a>\n"
    "</td></tr>\n</table>\n</body></html>\n";

static const char zh_text[] = "张伟先生，您好：\n\n"
                              "感谢您自二零一五年以来一直支持我们。春季新品现已全面上市，作为会员，"
                              "您可以比其他顾客提前三天选购。\n"
                              "您的专属优惠码是 SPRING-000042，本周日之前全场商品一律八折。\n\n"
                              "根据您上一次的订单，我们为您挑选了以下几款商品：\n"
                              "  * 六种颜色的亚麻衬衫，三百九十元起\n"
                              "  * 轻量越野跑鞋，鞋底采用再生材料制成\n"
                              "  * 畅销帆布旅行包，现已重新到货\n\n"
                              "立即选购：https://shop.example.cn/spring?u=42\n\n"
                              "如有任何问题，请直接回复本邮件。三十天内免费退换货。\n"
                              "退订：https://mail.example.cn/u/42\n";

/* Bytes the message would have had with every text part quoted-printable:
 * the parts that went 7bit (allow_8bit = 0) change encoding, nothing
 * else in the message does. */
static size_t all_qp_size(size_t composed, const char *const *parts, const size_t *lens,
                          size_t nparts)
{
    size_t size = composed;
    edm_buf b = EDM_BUF_INIT;
    for (size_t i = 0; i < nparts; i++) {
        if (mime_enc_choose(parts[i], lens[i], 0) != MIME_CTE_7BIT)
            continue;
        edm_buf_reset(&b);
        mime_enc_text(&b, MIME_CTE_7BIT, parts[i], lens[i]);
        size -= b.len + strlen("7bit");
        edm_buf_reset(&b);
        mime_enc_qp(&b, parts[i], lens[i]);
        size += b.len + strlen("quoted-printable");
    }
    edm_buf_free(&b);
    return size;
}

static int sizes(void)
{
    ascii_names = 1;
    rendered *en = render_all(1);
    if (en == NULL)
        return 1;
    const struct {
        const char *label, *from_name, *to_name, *subject, *html, *text;
    } msgs[] = {
        {"english html+text", "Example Shop", "Zoe Miller", "Zoe, your spring code inside",
         en[0].html, en[0].text},
        {"chinese html+text", "示例商城", "张伟", "张伟先生，春季新品八折优惠", zh_html, zh_text},
    };
    edm_mime *m = edm_mime_new();
    edm_buf out = EDM_BUF_INIT;
    printf("%-18s %6s %6s %12s %14s %14s %8s %8s\n", "message", "html", "text", "all QP (old)",
           "no 8BITMIME", "8BITMIME", "saved", "saved %");
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        size_t hl = strlen(msgs[i].html), tl = strlen(msgs[i].text), size[2];
        for (int allow = 0; allow < 2; allow++) {
            edm_mime_msg mm = {.from_addr = "news@example.com",
                               .from_name = msgs[i].from_name,
                               .to_addr = "customer42@mail.example.net",
                               .to_name = msgs[i].to_name,
                               .subject = msgs[i].subject,
                               .html = msgs[i].html,
                               .html_len = hl,
                               .text = msgs[i].text,
                               .text_len = tl,
                               .unsub_mailto = "unsub+2a-abcdefghijklmnop@bounce.example.com",
                               .unsub_url = "https://mail.example.com/u/2a-abcdefghijklmnop",
                               .message_id = "1.2.3@example.com",
                               .date = 1795784761,
                               .allow_8bit = allow};
            edm_buf_reset(&out);
            if (edm_mime_compose(m, &mm, &out) != 0) {
                fprintf(stderr, "compose: %s\n", edm_mime_error(m));
                return 1;
            }
            size[allow] = out.len;
        }
        const char *parts[2] = {msgs[i].html, msgs[i].text};
        size_t lens[2] = {hl, tl};
        size_t old = all_qp_size(size[0], parts, lens, 2);
        printf("%-18s %6zu %6zu %12zu %14zu %14zu %8zd %7.1f%%\n", msgs[i].label, hl, tl, old,
               size[0], size[1], (ssize_t)old - (ssize_t)size[1],
               100.0 * ((double)old - (double)size[1]) / (double)old);
    }
    edm_buf_free(&out);
    edm_mime_free(m);
    free(en[0].html);
    free(en[0].text);
    free(en);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--sizes") == 0)
        return sizes();
    const char *rsa = NULL, *ed = NULL;
    int n = 20000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rsa") == 0 && i + 1 < argc)
            rsa = argv[++i];
        else if (strcmp(argv[i], "--ed25519") == 0 && i + 1 < argc)
            ed = argv[++i];
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_compose --rsa RSA.pem --ed25519 ED.pem [-n N]\n");
            return 2;
        }
    }
    if (!rsa || !ed || n <= 0) {
        fprintf(stderr, "usage: bench_compose --rsa RSA.pem --ed25519 ED.pem [-n N]\n");
        return 2;
    }
    edm_dkim_key *kr = NULL, *ke = NULL;
    char err[256];
    if (edm_dkim_key_load(&kr, rsa, "example.com", "rsa", EDM_DKIM_RSA_SHA256, err, sizeof err) ||
        edm_dkim_key_load(&ke, ed, "example.com", "ed", EDM_DKIM_ED25519_SHA256, err, sizeof err)) {
        fprintf(stderr, "bench_compose: %s\n", err);
        return 1;
    }
    /* BENCH_ONLY=compose|rsa|ed25519|dual runs one of them (profiling). */
    const char *only = getenv("BENCH_ONLY");
    edm_dkim_key *both[2] = {kr, ke};
    int rc = 0;
    rendered *r = render_all(n);
    if (r == NULL)
        return 1;
    if (!only || strcmp(only, "compose") == 0)
        rc = rc || run("compose only", r, NULL, 0, n);
    if (!only || strcmp(only, "rsa") == 0)
        rc = rc || run("rsa-sha256 (2048)", r, &kr, 1, n);
    if (!only || strcmp(only, "ed25519") == 0)
        rc = rc || run("ed25519-sha256", r, &ke, 1, n);
    if (!only || strcmp(only, "dual") == 0)
        rc = rc || run("dual rsa + ed25519", r, both, 2, n);
    for (int i = 0; i < n; i++) {
        free(r[i].html);
        free(r[i].text);
    }
    free(r);
    edm_dkim_key_free(kr);
    edm_dkim_key_free(ke);
    return rc;
}
