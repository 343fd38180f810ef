-- Results store, schema version 1.
--
-- Privacy by design: `contacts` is the only table that holds phone numbers.
-- Everything a resident said is keyed by a pseudonym, HMAC-SHA256 of their
-- E.164 number under the campaign's own secret, so answers from different
-- campaigns cannot be joined and, once the queue and the secret are purged,
-- cannot be traced back to a number.
--
-- Times are Unix milliseconds (UTC).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE campaigns (
    id              INTEGER PRIMARY KEY,
    script_id       TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    -- Key of the pseudonyms; deleting it makes them anonymous.
    secret          BLOB,
    created_at      INTEGER NOT NULL,
    retention_until INTEGER
) STRICT;

CREATE TABLE contacts (
    id               INTEGER PRIMARY KEY,
    campaign_id      INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    e164             TEXT    NOT NULL,
    pseudonym        TEXT    NOT NULL,
    -- JSON object from the import: age, language, person or business, ...
    attributes       TEXT    NOT NULL DEFAULT '{}',
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'in_progress', 'done', 'excluded')),
    exclusion_reason TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    last_disposition TEXT,
    UNIQUE (campaign_id, e164)
) STRICT;

CREATE INDEX contacts_due ON contacts (campaign_id, state, next_attempt_at);
CREATE INDEX contacts_pseudonym ON contacts (campaign_id, pseudonym);

-- Opt-outs hold across campaigns, so they are keyed by a store-wide keyed
-- hash of the number (a plain hash of a phone number is reversed by trying
-- every number).
CREATE TABLE do_not_call (
    number_hash TEXT    PRIMARY KEY,
    reason      TEXT    NOT NULL,
    at          INTEGER NOT NULL
) STRICT;

CREATE TABLE calls (
    -- Random id; recordings are named by it, never by number.
    id          TEXT    PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    pseudonym   TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    disposition TEXT,
    sip_status  INTEGER,
    language    TEXT
) STRICT;

CREATE INDEX calls_person ON calls (campaign_id, pseudonym);

CREATE TABLE answers (
    call_id     TEXT    NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    question    TEXT    NOT NULL,
    kind        TEXT    NOT NULL
                CHECK (kind IN ('yes', 'no', 'choice', 'scale', 'number', 'recording', 'no_answer')),
    -- The answer as scripts and reports see it (AnswerValue::as_text).
    value       TEXT    NOT NULL,
    duration_ms INTEGER,
    answered_at INTEGER NOT NULL,
    -- A question asked again keeps the latest answer, as the interpreter does.
    PRIMARY KEY (call_id, question)
) STRICT;

CREATE TABLE recordings (
    call_id     TEXT    NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    question    TEXT    NOT NULL,
    -- Relative to the campaign's recordings folder.
    path        TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (call_id, question)
) STRICT;
