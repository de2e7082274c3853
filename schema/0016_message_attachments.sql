-- schema/0016_message_attachments.sql: the attachments of a transactional
-- message given to POST /v1/messages (docs/api.md, "Attachments"). One
-- copy per message, not per recipient: the pipeline loads them once with
-- the message and every recipient's message carries them
-- (multipart/mixed). idx keeps the order given; content_type is the one
-- given or the one the API chose from the file name. A message submitted
-- by SMTP has none here: its attachments are inside message_content.raw.

CREATE TABLE message_attachments (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (campaign_id, idx)
);
