# The points ledger: every change of prompt_points (signup, charge, refund,
# award) writes its row in the statement that makes it, so each wallet's
# balance is the sum of its rows; refused requests write nothing.  The
# award endpoint for operators; weaveit_max_pending_per_wallet; a spent
# signature refused the second time, and deleted by the cleanup once it
# has expired.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test qw(wait_until parallel_requests);
use WeaveIt::Jobs qw(api_locations thread_pool post_job wait_job job_status
                     script_words WALLET WALLET2);

# valid Solana keys (program ids), one per part of the test
my %W = (
    award   => '11111111111111111111111111111111',
    busy    => 'Vote111111111111111111111111111111111111111',
    other   => 'Stake11111111111111111111111111111111111111',
    burst   => 'Config1111111111111111111111111111111111111',
    failing => 'SysvarC1ock11111111111111111111111111111111',
    signed  => 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA',
    unseen  => 'ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL',
    rich    => '7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU',
);

my $pg = WeaveIt::Pg->start;
my $http = 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
         . 'weaveit_video_size 320x180;'
         . 'weaveit_signup_points 3; weaveit_generate_cost 1;';
my $server = api_locations() . q{
        location = /api/admin/points {
            allow 127.0.0.1;
            deny all;
            weaveit_points_award;
        }
        location = /api/admin/points-elsewhere {
            allow 192.0.2.1;
            deny all;
            weaveit_points_award;
        }
        location = /api/generate-pricey {
            weaveit_generate;
            weaveit_generate_cost 5;
        }
        location = /api/generate-one {
            weaveit_generate;
            weaveit_max_pending_per_wallet 1;
        }
        location = /api/generate-full {
            weaveit_generate;
            weaveit_max_pending 3;
        }};

my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => $http, server => $server);

sub rows { $pg->psql('SELECT count(*) FROM points_ledger') }

sub balance {
    return $pg->psql("SELECT coalesce(max(prompt_points), -1) FROM users "
                     . "WHERE wallet_address = '$_[0]'");
}

# a wallet's rows, oldest first: [reason, delta, job id or '', note or '']
sub ledger {
    my ($w) = @_;
    return [ map { [ split /\|/, $_, -1 ] } split /\n/, $pg->psql(
        "SELECT reason, delta, coalesce(job_id::text, ''),"
        . " coalesce(note, '') FROM points_ledger"
        . " WHERE wallet_address = '$w' ORDER BY entry_id") ];
}

sub award {
    my ($body, %a) = @_;
    my $r = $ngx->request(method => $a{method} // 'POST',
        path => $a{path} // '/api/admin/points',
        headers => { 'Content-Type' => $a{type} // 'application/json' },
        body => ref $body ? encode_json($body) : $body);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub post_to {
    my ($path, $wallet, $script) = @_;
    my $r = $ngx->request(method => 'POST', path => $path,
        headers => { 'Content-Type' => 'application/json' },
        body => encode_json({ script => $script // 'Ledger test.',
                              walletAddress => $wallet }));
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

# signup and charge

my $a = post_job($ngx, script => 'A first video.');
is $a->{status}, 202, 'a new wallet posts a job';
my $job_a = $a->{json}{jobId};
is_deeply ledger(WALLET), [ [ 'signup', 3, '', '' ],
                            [ 'charge', -1, $job_a, '' ] ],
    'its signup grant and the charge, with the job id';
is balance(WALLET), 2, 'balance 3 - 1';
is((wait_job($ngx, $job_a))[1]{status}, 'completed', 'the job completes');
is scalar(@{ ledger(WALLET) }), 2, 'a completed job has no refund';

# 402 writes nothing

my $before = rows();
my $r = post_to('/api/generate-pricey', WALLET);
is $r->{status}, 402, 'a job the wallet cannot afford: 402';
$r = post_to('/api/generate-pricey', WALLET2);
is $r->{status}, 402, 'nor can a new wallet (3 < 5): 402';
is rows(), $before, '  no ledger row written';
is balance(WALLET2), -1, '  and the new wallet was not created';

# awards

$r = award({ walletAddress => WALLET, points => 10,
             note => 'Contest winner' });
is $r->{status}, 200, 'award: 200';
is_deeply $r->{json}, { walletAddress => WALLET, points => 12 },
    '  with the new balance';
is_deeply ledger(WALLET)->[-1], [ 'award', 10, '', 'Contest winner' ],
    '  and an award row with the note';

$r = award({ walletAddress => $W{award}, points => 5 });
is_deeply [ $r->{status}, $r->{json} ],
    [ 200, { walletAddress => $W{award}, points => 5 } ],
    'an award to an unknown wallet creates it';
is_deeply ledger($W{award}), [ [ 'award', 5, '', '' ] ],
    '  with the award alone (no signup grant: that comes with a job)';
is_deeply decode_json($ngx->get("/api/users/$W{award}/points")->{body}),
    { walletAddress => $W{award}, points => 5 }, '  points endpoint agrees';

$r = award({ walletAddress => $W{award}, points => 1000000,
             note => "\x{e9}" x 200 });
is_deeply [ $r->{status}, $r->{json}{points} ], [ 200, 1000005 ],
    'the largest award, with a note of 200 two-byte characters';

$before = rows();
$r = award({ walletAddress => WALLET, points => 10 },
           path => '/api/admin/points-elsewhere');
is $r->{status}, 403, 'award from an address nginx denies: 403';

my $W = WALLET;
my @bad = (
    # name, request options, body, status, error
    [ 'GET', { method => 'GET' }, '', 405, 'Method not allowed' ],
    [ 'text/plain', { type => 'text/plain' }, '{}', 415,
      'Content-Type must be application/json' ],
    [ 'not JSON', {}, 'hello', 400, qr/^Invalid JSON/ ],
    [ 'a JSON array', {}, '[1]', 400, 'Request body must be a JSON object' ],
    [ 'no wallet', {}, { points => 1 }, 400, 'walletAddress is required' ],
    [ 'a bad wallet', {}, { walletAddress => 'nope', points => 1 }, 400,
      'walletAddress must be a Solana base58 public key' ],
    [ 'no points', {}, { walletAddress => $W }, 400, 'points is required' ],
    (map { [ "points $_->[0]", {}, "{\"walletAddress\":\"$W\","
             . "\"points\":$_->[1]}", 400,
             'points must be an integer from 1 to 1000000' ] }
         [ 'zero', '0' ], [ 'negative', '-5' ], [ 'too many', '1000001' ],
         [ 'a fraction', '1.5' ], [ 'a string', '"10"' ],
         [ 'true', 'true' ]),
    [ 'a number as note', {}, { walletAddress => $W, points => 1,
                                note => 5 }, 400, 'note must be a string' ],
    [ 'a long note', {}, { walletAddress => $W, points => 1,
                           note => "\x{e9}" x 201 }, 400,
      'note must be at most 200 characters' ],
);
for my $c (@bad) {
    my ($name, $opt, $body, $status, $error) = @$c;
    $r = award($body, %$opt);
    is $r->{status}, $status, "award, $name: $status";
    if (ref $error) {
        like $r->{json}{error} // '', $error, '  saying why';
    } else {
        is $r->{json}{error}, $error, '  saying why';
    }
}
is $r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    'the errors are JSON';
is award({}, method => 'PUT')->{headers}{allow}, 'POST', '405 names POST';
is rows(), $before, 'no ledger row for a refused award';
is balance(WALLET), 12, 'and no point given';

# the balance of an INTEGER column has a ceiling
$pg->psql("INSERT INTO users (wallet_address, prompt_points) "
          . "VALUES ('$W{rich}', 2147000000); "
          . "INSERT INTO points_ledger (wallet_address, delta, reason) "
          . "VALUES ('$W{rich}', 2147000000, 'opening')");
$r = award({ walletAddress => $W{rich}, points => 1000000 });
is_deeply [ $r->{status}, $r->{json} ],
    [ 400, { error => 'points would take the balance past 2147483647' } ],
    'an award past the largest balance: 400';
is balance($W{rich}), 2147000000, '  nothing given';
is scalar(@{ ledger($W{rich}) }), 1, '  nothing written';

# weaveit_max_pending_per_wallet (default 5): jobs pending or generating
# elsewhere, that this nginx will neither claim nor reap, fill a wallet's
# share

is award({ walletAddress => $W{busy}, points => 10 })->{status}, 200,
    'a wallet with points';
$pg->psql("INSERT INTO video_jobs (wallet_address, script_body, status, "
          . "attempts, claimed_by, lease_until) SELECT '$W{busy}', 'held',"
          . " s, 3, 'elsewhere', now() + interval '1 hour' FROM "
          . "unnest(array['generating', 'generating', 'pending', 'pending',"
          . " 'pending']) s");
$before = rows();
$r = post_to('/api/generate', $W{busy});
is $r->{status}, 429, 'its sixth job while five are pending or generating:'
    . ' 429';
is $r->{json}{error}, 'Too many pending jobs for this wallet', '  saying so';
is $r->{headers}{'retry-after'}, '10', '  with Retry-After: 10';
is rows(), $before, '  no ledger row written';
is balance($W{busy}), 10, '  no point taken';
is $pg->psql("SELECT count(*) FROM video_jobs WHERE wallet_address = "
             . "'$W{busy}'"), 5, '  no job written';

$r = post_to('/api/generate', $W{other});
is $r->{status}, 202, 'another wallet meanwhile: 202';

$before = rows();
$r = post_to('/api/generate-full', $W{other});
is $r->{status}, 429, 'past weaveit_max_pending (fleet-wide): 429';
is $r->{json}{error}, 'Too many pending jobs, retry later',
    '  with the fleet-wide message';
is rows(), $before, '  no ledger row written';
$pg->psql("DELETE FROM video_jobs WHERE script_body = 'held'");

# the same through real jobs: with a limit of 1, a wallet's second job
# waits for its first to end
$r = post_to('/api/generate-one', WALLET2, script_words(60));
is $r->{status}, 202, 'limit 1: the first job';
my $first = $r->{json}{jobId};
$r = post_to('/api/generate-one', WALLET2);
is_deeply [ $r->{status}, $r->{json}{error} ],
    [ 429, 'Too many pending jobs for this wallet' ],
    '  the second while the first is pending or generating: 429';
is((wait_job($ngx, $first))[1]{status}, 'completed', '  the first ends');
is post_to('/api/generate-one', WALLET2)->{status}, 202,
    '  then the wallet may post again';

# concurrent posts of one wallet: its row lock makes the count exact
award({ walletAddress => $W{burst}, points => 100 });
my @burst = parallel_requests(8, port => $ngx->port, method => 'POST',
    path => '/api/generate',
    headers => { 'Content-Type' => 'application/json' },
    body => encode_json({ script => script_words(40),
                          walletAddress => $W{burst} }));
my %codes;
$codes{$_->{status}}++ for @burst;
is_deeply \%codes, { 202 => 5, 429 => 3 },
    '8 posts of one wallet at once: 5 accepted, 3 refused';
is_deeply [ map { $_->[0] } @{ ledger($W{burst}) } ],
    [ 'award', ('charge') x 5 ], '  5 charges in its ledger';
is balance($W{burst}), 95, '  and 5 points taken';

ok wait_until(120, sub { $pg->psql("SELECT count(*) FROM video_jobs "
        . "WHERE status IN ('pending', 'generating')") == 0 }),
    'every job has ended';
$ngx->stop;

# refunds, and spent signatures

# a worker died on the last attempt of a job: the reap step fails it
my $lost = '00000000-0000-4000-8000-00000000000a';
is $pg->psql("SELECT outcome || ' ' || points FROM weaveit_create_job("
             . "'$lost', '$W{failing}', 'lost', NULL, 3, 2, 1000, 5,"
             . " NULL, NULL, NULL, NULL, NULL)"), 'created 1', 'a job charged 2 points';
$pg->psql("UPDATE video_jobs SET status = 'generating', attempts = 3, "
          . "claimed_by = 'gone', lease_until = now() - interval '1 minute' "
          . "WHERE job_id = '$lost'");

my ($hash1, $hash2) = ('ab' x 32, 'cd' x 32);
my @ids = map { sprintf '00000000-0000-4000-8000-%012d', $_ } 1 .. 4;
sub create_signed {
    my ($id, $wallet, $hash, $expires) = @_;
    return $pg->psql("SELECT outcome || ' ' || coalesce(points, -1) FROM "
        . "weaveit_create_job('$id', '$wallet', 'Signed.', NULL, 3, 1, "
        . "1000, 5, '$hash', now() + interval '$expires', NULL, NULL, "
        . "NULL)");
}
is create_signed($ids[0], $W{signed}, $hash1, '1 hour'), 'created 2',
    'a signed job';
$before = rows();
my $sigs = $pg->psql('SELECT count(*) FROM used_signatures');
is create_signed($ids[1], $W{signed}, $hash1, '1 hour'), 'replayed 2',
    'its signature again: replayed';
is create_signed($ids[2], $W{unseen}, $hash1, '1 hour'), 'replayed 3',
    'from another wallet too';
is $pg->psql("SELECT count(*) FROM video_jobs WHERE job_id IN "
             . "('$ids[1]', '$ids[2]')"), 0, '  no job written';
is balance($W{unseen}), -1, '  no user created';
is rows(), $before, '  no ledger row written';
is $pg->psql('SELECT count(*) FROM used_signatures'), $sigs,
    '  no signature recorded';
is balance($W{signed}), 2, '  no point taken';
is create_signed($ids[3], $W{signed}, $hash2, '-1 minute'), 'created 1',
    'a signed job whose signature has expired since';

# this "font" is no font: generation fails and refunds
my $bad = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => $http . 'weaveit_font /etc/hostname;'
          . 'weaveit_cleanup_failed_after 0;',
    server => $server);
ok wait_until(20, sub { $pg->psql("SELECT count(*) FROM used_signatures "
                                  . "WHERE signature_hash = '$hash2'") == 0 }),
    'the cleanup deletes the expired signature';
is $pg->psql("SELECT count(*) FROM used_signatures "
             . "WHERE signature_hash = '$hash1'"), 1,
    '  and keeps the one still valid';

$r = post_job($bad, script => 'Doomed.', wallet => $W{failing});
is $r->{status}, 202, 'a job that will fail';
my $doomed = $r->{json}{jobId};
is((wait_job($bad, $doomed))[1]{status}, 'failed', '  fails');
ok wait_until(20, sub { $pg->psql("SELECT status FROM video_jobs "
                                  . "WHERE job_id = '$lost'") eq 'failed' }),
    'the job out of attempts is failed by the reap step';
is_deeply ledger($W{failing}), [ [ 'signup', 3, '', '' ],
                                 [ 'charge', -2, $lost, '' ],
                                 [ 'refund', 2, $lost, '' ],
                                 [ 'charge', -1, $doomed, '' ],
                                 [ 'refund', 1, $doomed, '' ] ],
    'each refund has its row and its job id';
is balance($W{failing}), 3, 'every point back';
ok wait_until(60, sub { $pg->psql("SELECT count(*) FROM video_jobs "
        . "WHERE wallet_address = '$W{signed}' AND status = 'failed'") == 2 }),
    'the signed jobs fail too';
is_deeply [ map { $_->[0] . $_->[1] } @{ ledger($W{signed}) } ],
    [ qw(signup3 charge-1 charge-1 refund1 refund1) ],
    '  and are refunded';
$bad->stop;

# the invariant, over everything above

is $pg->psql("SELECT count(*) FROM users u WHERE prompt_points <> "
             . "coalesce((SELECT sum(delta) FROM points_ledger l "
             . "WHERE l.wallet_address = u.wallet_address), 0)"), 0,
    'every balance is the sum of its ledger rows';
is $pg->psql("SELECT count(*) FROM points_ledger l "
             . "LEFT JOIN video_jobs j USING (job_id) "
             . "WHERE l.reason = 'charge' AND (j.job_id IS NULL "
             . "OR j.wallet_address <> l.wallet_address "
             . "OR -l.delta <> j.points_charged)"), 0,
    'every charge row is its job\'s charge';
is $pg->psql("SELECT count(*) FROM points_ledger l "
             . "LEFT JOIN video_jobs j USING (job_id) "
             . "WHERE l.reason = 'refund' AND (j.job_id IS NULL "
             . "OR j.status <> 'failed' "
             . "OR j.wallet_address <> l.wallet_address "
             . "OR l.delta <> j.points_charged)"), 0,
    'every refund row is a failed job\'s charge';
is $pg->psql("SELECT count(*) FROM video_jobs j WHERE points_charged <> 0 "
             . "AND ((SELECT count(*) FROM points_ledger l WHERE "
             . "l.job_id = j.job_id AND reason = 'charge') <> 1 "
             . "OR (SELECT count(*) FROM points_ledger l WHERE "
             . "l.job_id = j.job_id AND reason = 'refund') "
             . "<> (j.status = 'failed')::int)"), 0,
    'every charged job has one charge row, and one refund row if it failed';
is $pg->psql("SELECT count(*) FROM (SELECT wallet_address FROM points_ledger"
             . " WHERE reason = 'signup' GROUP BY 1 HAVING count(*) > 1) d"),
    0, 'one signup grant per wallet at most';
cmp_ok $pg->psql('SELECT count(DISTINCT reason) FROM points_ledger'), '==', 5,
    'rows of all five reasons were checked';

unlike $ngx->error_log . $bad->error_log, qr/\[(alert|emerg|crit)\]/,
    'no alert in error.log';

done_testing;
