-- Settings the store remembers for every process that opens it (e.g. the journal mask,
-- so that an operator command without the configuration still masks payloads).
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
