-- schema/0013_var_names.sql: recipients' variables stored compactly
-- (engine/store/vars.h, docs/architecture.md "The ledger"). The names of
-- an upload's variables are kept once, as the text of a JSON array, in
-- `var_names`; a row of `deliveries` then holds in `vars` a BLOB (a tag
-- byte, the names id, the values) instead of the JSON object text with
-- every name repeated. Rows written before keep their JSON text, which the
-- readers still take: nothing is rewritten, so this runs in O(1) on a
-- database of any size. Rows of `var_names` are never deleted.
CREATE TABLE var_names (
    id    INTEGER PRIMARY KEY,
    names TEXT NOT NULL UNIQUE
);
