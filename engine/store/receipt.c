/*
 * engine/store/receipt.c: the receipt JSON of one row, for every backend
 * (see receipt.h). Times are unix seconds in the row, RFC 3339 in the
 * JSON (null when unset or 0); next_attempt_at shows only on deferred
 * receipts.
 */
#include "engine/store/receipt.h"
#include "engine/base/timeutil.h"
#include "engine/store/feedback.h"
#include "engine/store/store.h"

static const char *const names[] = {"id",
                                    "campaign_id",
                                    "email",
                                    "status",
                                    "attempts",
                                    "smtp_code",
                                    "enhanced_code",
                                    "response",
                                    "bounce_category",
                                    "mx_host",
                                    "mx_ip",
                                    "source_ip",
                                    "tls",
                                    "message_id",
                                    "remote_queue_id",
                                    "queued_at",
                                    "first_attempt_at",
                                    "last_attempt_at",
                                    "delivered_at",
                                    "next_attempt_at",
                                    "feedback",
                                    "feedback_at",
                                    "opened_at",
                                    "clicked_at"};

static json_t *int_col(const edm_row_reader *rd, int i)
{
    return rd->is_null(rd, i) ? json_null() : json_integer(rd->i64(rd, i));
}

static json_t *time_col(const edm_row_reader *rd, int i)
{
    int64_t t = rd->is_null(rd, i) ? 0 : rd->i64(rd, i);
    if (t <= 0)
        return json_null();
    char buf[40];
    return json_string(edm_time_rfc3339(t, buf, sizeof buf));
}

static json_t *text_col(const edm_row_reader *rd, int i)
{
    size_t len;
    const char *t = rd->is_null(rd, i) ? NULL : rd->text(rd, i, &len);
    return t ? json_stringn(t, len) : json_null();
}

json_t *edm_receipt_json(const edm_row_reader *rd)
{
    json_t *o = json_object();
    int status = (int)rd->i64(rd, 3);
    for (int i = 0; i < 20; i++) {
        json_t *v;
        if (i == 3)
            v = json_string(edm_dstate_name(status));
        else if (i <= 1 || i == 4 || i == 5)
            v = int_col(rd, i);
        else if (i >= 15)
            v = (i == 19 && status != EDM_DSTATE_DEFERRED) ? json_null() : time_col(rd, i);
        else
            v = text_col(rd, i);
        json_object_set_new(o, names[i], v);
    }
    int fb = rd->is_null(rd, 20) ? 0 : (int)rd->i64(rd, 20);
    json_object_set_new(o, names[20], fb ? json_string(edm_feedback_name(fb)) : json_null());
    for (int i = 21; i < 24; i++)
        json_object_set_new(o, names[i], time_col(rd, i));
    return o;
}
