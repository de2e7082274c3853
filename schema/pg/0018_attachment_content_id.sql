-- schema/pg/0018_attachment_content_id.sql: PostgreSQL's dialect of
-- schema/0018_attachment_content_id.sql: an attachment's Content-ID
-- (an inline part for cid: links), NULL for a regular attachment.
ALTER TABLE message_attachments ADD COLUMN content_id TEXT;
