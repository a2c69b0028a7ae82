-- Messages: the envelope of every received message, kept until retention purges it.
-- open_count / parked_count count its deliveries that are waiting / parked.
CREATE TABLE messages (
    id             TEXT    NOT NULL UNIQUE,
    flow           TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    headers        BLOB    NOT NULL,
    body           BLOB    NOT NULL,
    received_at    REAL    NOT NULL,
    correlation_id TEXT,
    dedup_key      TEXT,
    status         TEXT    NOT NULL,
    open_count     INTEGER NOT NULL,
    parked_count   INTEGER NOT NULL,
    updated_at     REAL    NOT NULL
);
CREATE UNIQUE INDEX messages_dedup ON messages (source, dedup_key, flow)
    WHERE dedup_key IS NOT NULL;
CREATE INDEX messages_flow ON messages (flow, received_at);
CREATE INDEX messages_key ON messages (key);
CREATE INDEX messages_received ON messages (received_at);
CREATE INDEX messages_status ON messages (status);

-- Entries: deliveries not yet done. state: queued | held (parked, holding its lane)
-- | parked (parked, lane goes on). payload NULL means "the message body".
CREATE TABLE entries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT    NOT NULL,
    destination  TEXT    NOT NULL,
    flow         TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    payload      BLOB,
    state        TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    available_at REAL    NOT NULL,
    enqueued_at  REAL    NOT NULL
);
CREATE INDEX entries_lane ON entries (destination, flow, key, seq);
CREATE INDEX entries_message ON entries (message_id);

-- Lanes: one row per (destination, flow, key) with deliveries. head is the delivery that
-- goes next; ready_at is when it may be claimed (NULL: held by a parked delivery).
-- While leased, ready_at is the lease's expiry, so an expired lease is simply claimable.
CREATE TABLE lanes (
    destination TEXT NOT NULL,
    flow        TEXT NOT NULL,
    key         TEXT NOT NULL,
    head        INTEGER NOT NULL,
    ready_at    REAL,
    lease       TEXT,
    worker      TEXT,
    PRIMARY KEY (destination, flow, key)
) WITHOUT ROWID;
CREATE INDEX lanes_ready ON lanes (destination, ready_at) WHERE ready_at IS NOT NULL;

-- Journal: every step of every message, written in the same transaction as the change.
CREATE TABLE journal (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT    NOT NULL,
    at          REAL    NOT NULL,
    step        TEXT    NOT NULL,
    destination TEXT,
    attempt     INTEGER,
    detail      BLOB,
    payload     BLOB
);
CREATE INDEX journal_message ON journal (message_id);
CREATE INDEX journal_destination ON journal (destination, message_id) WHERE destination IS NOT NULL;

-- Cursors of polling sources, committed with the messages they produced.
CREATE TABLE cursors (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
