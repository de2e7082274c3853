-- schema/0018_attachment_content_id.sql: inline parts of a transactional
-- message (docs/api.md, "Attachments"): an attachment given a content_id
-- goes into multipart/related next to the HTML body, with Content-ID
-- <content_id> and an inline disposition, for `cid:` links in the HTML.
-- NULL for a regular attachment (and for every row written before).
-- message_attachments is a table of 0016: tests that step a database back
-- before 0016 drop it and this migration adds the column again.
ALTER TABLE message_attachments ADD COLUMN content_id TEXT;
