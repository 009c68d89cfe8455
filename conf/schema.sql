-- WeaveIt schema.  Compiled into the module and run on a worker's first
-- connection; safe to run any number of times, from several workers and
-- several nginx hosts at once: the advisory lock serialises the runs and
-- each numbered migration is applied once, recorded in weaveit_schema.
--
-- The seed's three tables keep their names and meaning (users, video_jobs,
-- videos); an existing seed database is upgraded in place.

SELECT pg_advisory_xact_lock(7245327115563012096);

CREATE TABLE IF NOT EXISTS weaveit_schema (
    version     INTEGER PRIMARY KEY,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

DO $weaveit$
BEGIN
    IF EXISTS (SELECT 1 FROM weaveit_schema WHERE version = 1) THEN
        RETURN;
    END IF;

    CREATE TABLE IF NOT EXISTS users (
        wallet_address  TEXT PRIMARY KEY,
        prompt_points   INTEGER NOT NULL DEFAULT 0,
        created_at      TIMESTAMP NOT NULL DEFAULT NOW()
    );

    CREATE TABLE IF NOT EXISTS video_jobs (
        job_id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        wallet_address  TEXT NOT NULL
                        REFERENCES users(wallet_address) ON DELETE CASCADE,
        script_body     TEXT,
        status          TEXT NOT NULL DEFAULT 'pending',
        error_message   TEXT,
        created_at      TIMESTAMP NOT NULL DEFAULT NOW(),
        updated_at      TIMESTAMP NOT NULL DEFAULT NOW()
    );

    CREATE TABLE IF NOT EXISTS videos (
        video_id        UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        job_id          UUID NOT NULL
                        REFERENCES video_jobs(job_id) ON DELETE CASCADE,
        wallet_address  TEXT NOT NULL
                        REFERENCES users(wallet_address) ON DELETE CASCADE,
        video_data      BYTEA NOT NULL,
        duration_sec    INTEGER,
        format          TEXT DEFAULT 'mp4',
        created_at      TIMESTAMP NOT NULL DEFAULT NOW()
    );

    -- The seed declared script_body NOT NULL, which made clearing it
    -- after success impossible.
    ALTER TABLE video_jobs ALTER COLUMN script_body DROP NOT NULL;

    ALTER TABLE video_jobs
        ADD COLUMN IF NOT EXISTS title        TEXT,
        ADD COLUMN IF NOT EXISTS progress     SMALLINT NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS claimed_by   TEXT,
        ADD COLUMN IF NOT EXISTS lease_until  TIMESTAMPTZ,
        ADD COLUMN IF NOT EXISTS attempts     INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS points_charged INTEGER NOT NULL DEFAULT 0;

    ALTER TABLE video_jobs DROP CONSTRAINT IF EXISTS video_jobs_status_check;
    ALTER TABLE video_jobs ADD CONSTRAINT video_jobs_status_check
        CHECK (status IN ('pending', 'generating', 'completed', 'failed'));
    ALTER TABLE video_jobs DROP CONSTRAINT IF EXISTS video_jobs_progress_check;
    ALTER TABLE video_jobs ADD CONSTRAINT video_jobs_progress_check
        CHECK (progress BETWEEN 0 AND 100);

    -- EXTERNAL: stored out of line but uncompressed, so substring() reads
    -- only the TOAST chunks a byte range needs and octet_length() does not
    -- detoast.  MP4 does not compress anyway.
    ALTER TABLE videos ALTER COLUMN video_data SET STORAGE EXTERNAL;

    CREATE INDEX IF NOT EXISTS videos_job_id_idx ON videos (job_id);
    CREATE INDEX IF NOT EXISTS videos_wallet_created_idx
        ON videos (wallet_address, created_at DESC);
    CREATE INDEX IF NOT EXISTS video_jobs_wallet_address_idx
        ON video_jobs (wallet_address);
    CREATE INDEX IF NOT EXISTS video_jobs_status_lease_idx
        ON video_jobs (status, lease_until);

    INSERT INTO weaveit_schema (version) VALUES (1);
END
$weaveit$;

-- 2: the points ledger and the used signatures (issue #11).
DO $weaveit$
BEGIN
    IF EXISTS (SELECT 1 FROM weaveit_schema WHERE version = 2) THEN
        RETURN;
    END IF;

    -- Every change of users.prompt_points adds its row here in the
    -- statement that makes it, so a wallet's balance is the sum of its
    -- rows.  A change of 0 is no change and has no row.  job_id has no
    -- foreign key: the ledger outlives the failed jobs the cleanup deletes.
    CREATE TABLE points_ledger (
        entry_id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        wallet_address  TEXT NOT NULL
                        REFERENCES users(wallet_address) ON DELETE CASCADE,
        delta           INTEGER NOT NULL CHECK (delta <> 0),
        reason          TEXT NOT NULL CHECK (reason IN
                            ('opening', 'signup', 'charge', 'refund',
                             'award')),
        job_id          UUID,
        note            TEXT,
        created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT points_ledger_job_check
            CHECK ((job_id IS NOT NULL) = (reason IN ('charge', 'refund')))
    );

    CREATE INDEX points_ledger_wallet_idx
        ON points_ledger (wallet_address, entry_id);
    CREATE INDEX points_ledger_job_idx
        ON points_ledger (job_id) WHERE job_id IS NOT NULL;

    -- Balances from before the ledger open it.  SHARE mode holds off a
    -- writer of another host until these rows are committed.
    LOCK TABLE users IN SHARE MODE;

    INSERT INTO points_ledger (wallet_address, delta, reason, note)
        SELECT wallet_address, prompt_points, 'opening',
               'balance when the ledger began'
        FROM users WHERE prompt_points <> 0;

    -- A signed POST is accepted once: its signature's SHA-256 (hex) is
    -- kept with the job it created until the signature would have expired
    -- anyway; then the cleanup of ngx_http_weaveit_job.c deletes it.
    CREATE TABLE used_signatures (
        signature_hash  TEXT PRIMARY KEY
                        CHECK (signature_hash ~ '^[0-9a-f]{64}$'),
        expires_at      TIMESTAMPTZ NOT NULL
    );

    CREATE INDEX used_signatures_expires_idx
        ON used_signatures (expires_at);

    -- The function of migration 1 charged without a ledger row: no caller
    -- may reach it any more.
    DROP FUNCTION IF EXISTS weaveit_create_job(UUID, TEXT, TEXT, TEXT,
                                               INTEGER, INTEGER, INTEGER);

    INSERT INTO weaveit_schema (version) VALUES (2);
END
$weaveit$;

-- 3: the voice a job is narrated with (issue #13).
DO $weaveit$
BEGIN
    IF EXISTS (SELECT 1 FROM weaveit_schema WHERE version = 3) THEN
        RETURN;
    END IF;

    ALTER TABLE video_jobs ADD COLUMN IF NOT EXISTS voice TEXT;

    -- The function of migration 2 took no voice: no caller may reach it.
    DROP FUNCTION IF EXISTS weaveit_create_job(UUID, TEXT, TEXT, TEXT,
        INTEGER, INTEGER, INTEGER, INTEGER, TEXT, TIMESTAMPTZ);

    INSERT INTO weaveit_schema (version) VALUES (3);
END
$weaveit$;

-- 4: the format of a job's script (issue #15), NULL: the generator looks;
-- and the theme of its video, NULL: light.
DO $weaveit$
BEGIN
    IF EXISTS (SELECT 1 FROM weaveit_schema WHERE version = 4) THEN
        RETURN;
    END IF;

    ALTER TABLE video_jobs ADD COLUMN IF NOT EXISTS script_format TEXT
        CHECK (script_format IN ('text', 'markdown'));
    ALTER TABLE video_jobs ADD COLUMN IF NOT EXISTS theme TEXT
        CHECK (theme IN ('light', 'dark'));

    -- The function of migration 3 took no format: no caller may reach it.
    DROP FUNCTION IF EXISTS weaveit_create_job(UUID, TEXT, TEXT, TEXT,
        INTEGER, INTEGER, INTEGER, INTEGER, TEXT, TIMESTAMPTZ, TEXT);

    INSERT INTO weaveit_schema (version) VALUES (4);
END
$weaveit$;

-- 5: retention (issue #17): a job whose video weaveit_video_retention
-- deleted is 'expired'; the cleanup finds the oldest videos by index.
DO $weaveit$
BEGIN
    IF EXISTS (SELECT 1 FROM weaveit_schema WHERE version = 5) THEN
        RETURN;
    END IF;

    ALTER TABLE video_jobs DROP CONSTRAINT IF EXISTS video_jobs_status_check;
    ALTER TABLE video_jobs ADD CONSTRAINT video_jobs_status_check
        CHECK (status IN ('pending', 'generating', 'completed', 'failed',
                          'expired'));

    CREATE INDEX IF NOT EXISTS videos_created_idx ON videos (created_at);

    INSERT INTO weaveit_schema (version) VALUES (5);
END
$weaveit$;

-- The seed's timestamps are "timestamp without time zone", written by
-- NOW() in the session's time zone: this spells them in ISO 8601 UTC.
CREATE OR REPLACE FUNCTION weaveit_iso(ts TIMESTAMP) RETURNS TEXT
LANGUAGE sql STABLE AS $$
    SELECT to_char((ts AT TIME ZONE current_setting('TimeZone'))
                   AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Creates a pending job for POST /api/generate in one round trip: spends
-- the request's signature, makes the user (with the signup points),
-- charges the cost, inserts the job; each change of points writes its
-- ledger row in the same statement.
--
-- outcome: 'created', or one of these, and then nothing at all is written:
--   'replayed'     p_signature is in used_signatures already
--   'busy'         p_max_pending jobs are pending, fleet-wide
--   'points'       too few points for p_cost
--   'wallet_busy'  the wallet has p_max_wallet_pending jobs pending or
--                  generating
-- points: the balance after the charge; on a refusal, the balance as it is
-- (the signup points for a wallet not seen yet).
-- p_signature: lowercase hex SHA-256 of the signature, NULL when unsigned;
-- p_signature_expires: until when the signature would be accepted;
-- p_voice: the voice the job is narrated with; p_format: its script's
-- format, 'text', 'markdown' or NULL (detected); p_theme: its video's.
CREATE OR REPLACE FUNCTION weaveit_create_job(
    p_job_id UUID, p_wallet TEXT, p_script TEXT, p_title TEXT,
    p_signup_points INTEGER, p_cost INTEGER, p_max_pending INTEGER,
    p_max_wallet_pending INTEGER, p_signature TEXT,
    p_signature_expires TIMESTAMPTZ, p_voice TEXT, p_format TEXT,
    p_theme TEXT, OUT outcome TEXT, OUT points INTEGER)
LANGUAGE plpgsql AS $$
BEGIN
    -- a refusal raises WI000 with the outcome as its message: the
    -- block's writes are rolled back
    BEGIN
        IF p_signature IS NOT NULL THEN
            INSERT INTO used_signatures (signature_hash, expires_at)
                VALUES (p_signature, p_signature_expires)
                ON CONFLICT (signature_hash) DO NOTHING;

            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'WI000',
                                      MESSAGE = 'replayed';
            END IF;
        END IF;

        IF (SELECT count(*) FROM video_jobs WHERE status = 'pending')
           >= p_max_pending
        THEN
            RAISE EXCEPTION USING ERRCODE = 'WI000', MESSAGE = 'busy';
        END IF;

        WITH u AS (
            INSERT INTO users (wallet_address, prompt_points)
                VALUES (p_wallet, p_signup_points)
                ON CONFLICT (wallet_address) DO NOTHING
                RETURNING wallet_address, prompt_points
        )
        INSERT INTO points_ledger (wallet_address, delta, reason)
            SELECT wallet_address, prompt_points, 'signup' FROM u
            WHERE prompt_points <> 0;

        -- the user's row stays locked until commit: the wallet's count
        -- below sees every job of a concurrent request for it
        WITH u AS (
            UPDATE users SET prompt_points = prompt_points - p_cost
                WHERE wallet_address = p_wallet
                RETURNING wallet_address, prompt_points
        ), l AS (
            INSERT INTO points_ledger (wallet_address, delta, reason,
                                       job_id)
                SELECT wallet_address, -p_cost, 'charge', p_job_id FROM u
                WHERE p_cost <> 0
        )
        SELECT prompt_points INTO points FROM u;

        IF points < 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'WI000', MESSAGE = 'points';
        END IF;

        IF (SELECT count(*) FROM video_jobs
            WHERE wallet_address = p_wallet
              AND status IN ('pending', 'generating'))
           >= p_max_wallet_pending
        THEN
            RAISE EXCEPTION USING ERRCODE = 'WI000',
                                  MESSAGE = 'wallet_busy';
        END IF;

        INSERT INTO video_jobs (job_id, wallet_address, script_body, title,
                                voice, script_format, theme, status,
                                points_charged)
            VALUES (p_job_id, p_wallet, p_script, p_title, p_voice,
                    p_format, p_theme, 'pending', p_cost);
        outcome := 'created';

    EXCEPTION WHEN SQLSTATE 'WI000' THEN
        outcome := SQLERRM;
        SELECT coalesce(max(prompt_points), p_signup_points) INTO points
            FROM users WHERE wallet_address = p_wallet;
    END;
END
$$;
