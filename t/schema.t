# The schema is applied at worker start under an advisory lock: once when
# 4 workers start together, harmlessly again on the next start, and it
# upgrades a database created by the original service in place, opening
# the points ledger with the balances it finds.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use WeaveIt::Test qw(wait_until);

my $pg = WeaveIt::Pg->start;

# The original service's schema, with a row that must survive.
$pg->psql(<<'SQL');
CREATE TABLE users (wallet_address TEXT PRIMARY KEY,
    prompt_points INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT NOW());
CREATE TABLE video_jobs (job_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    wallet_address TEXT NOT NULL REFERENCES users(wallet_address)
        ON DELETE CASCADE,
    script_body TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    error_message TEXT, created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP NOT NULL DEFAULT NOW());
INSERT INTO users VALUES ('seedwallet', 5, now()), ('emptywallet', 0, now());
INSERT INTO video_jobs (wallet_address, script_body, status)
    VALUES ('seedwallet', 'old script', 'completed');
SQL

sub schema_lines { scalar(() = $_[0]->error_log =~ /schema is up to date/g) }

for my $round (1, 2) {
    my $ngx = WeaveIt::Nginx->start(pg => $pg, workers => 4,
        server => 'location = /api/db/health { weaveit_health; }');
    ok wait_until(20, sub { schema_lines($ngx) == 4 }),
        "start $round: each of 4 workers has the schema";
    unlike $ngx->error_log, qr/schema failed|\[(alert|emerg|crit)\]/,
        "start $round: no error";
    is $pg->psql("SELECT string_agg(version::text, ' ' ORDER BY version) "
                 . "FROM weaveit_schema"), '1 2 3 4 5',
        "start $round: migrations 1 to 5 recorded exactly once";
    $ngx->stop;
}

is $pg->psql("SELECT prompt_points FROM users "
             . "WHERE wallet_address = 'seedwallet'"), 5,
    'existing users kept';
is $pg->psql("SELECT status || ' ' || progress || ' ' || attempts "
             . "FROM video_jobs"), 'completed 0 0',
    'existing jobs kept, with the new columns';
is $pg->psql("SELECT is_nullable FROM information_schema.columns "
             . "WHERE table_name = 'video_jobs' "
             . "AND column_name = 'script_body'"), 'YES',
    'script_body became nullable';
is $pg->psql("SELECT attstorage FROM pg_attribute "
             . "WHERE attrelid = 'videos'::regclass "
             . "AND attname = 'video_data'"), 'e',
    'video_data is STORAGE EXTERNAL';
is $pg->psql("SELECT count(*) FROM pg_indexes WHERE indexname IN "
             . "('videos_job_id_idx', 'video_jobs_wallet_address_idx', "
             . "'video_jobs_status_lease_idx', 'videos_created_idx')"), 4,
    'the indexes exist';
ok !eval { $pg->psql("UPDATE video_jobs SET status = 'bogus'"); 1 },
    'the status CHECK holds';
ok eval { $pg->psql("UPDATE video_jobs SET status = 'expired'"); 1 },
    '  and takes expired (migration 5)';
is $pg->psql("SELECT wallet_address || ' ' || delta || ' ' || reason "
             . "FROM points_ledger"), 'seedwallet 5 opening',
    'the ledger opens with the balances there were, once';
is $pg->psql("SELECT count(*) FROM pg_proc "
             . "WHERE proname = 'weaveit_create_job'"), 1,
    'one weaveit_create_job(), the one that writes the ledger';
is $pg->psql("SELECT pronargs FROM pg_proc "
             . "WHERE proname = 'weaveit_create_job'"), 13,
    'and records the voice (migration 3), the format and theme (4)';
is $pg->psql("SELECT count(*) FROM information_schema.columns "
             . "WHERE table_name = 'video_jobs' AND column_name = 'voice'"),
    1, 'video_jobs has a voice';
ok !eval { $pg->psql("UPDATE video_jobs SET script_format = 'html'"); 1 },
    'the script_format CHECK holds';
ok !eval { $pg->psql("UPDATE video_jobs SET theme = 'blue'"); 1 },
    'the theme CHECK holds';

done_testing;
