-- Results store, schema version 2: purging by retention date.
--
-- A purge deletes queue entries (the numbers and their import attributes)
-- but the funnel still counts them: what is kept is only how many entries
-- there were in each state and exclusion reason, which identifies nobody.

CREATE TABLE purged_contacts (
    campaign_id      INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    state            TEXT    NOT NULL
                     CHECK (state IN ('pending', 'in_progress', 'done', 'excluded')),
    -- '' when the entry was not excluded (a primary key cannot hold NULL
    -- as one value).
    exclusion_reason TEXT    NOT NULL DEFAULT '',
    count            INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, state, exclusion_reason)
) STRICT;
