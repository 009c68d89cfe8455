# Points: new users get weaveit_signup_points, each job costs
# weaveit_generate_cost, too few points is 402 with nothing written, and a
# failed generation refunds the points.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test;
use WeaveIt::Jobs qw(api_locations thread_pool post_job wait_job WALLET
                     WALLET2);

my $WALLET3 = '1' x 32;    # decodes to 32 zero bytes: a valid key

my $pg = WeaveIt::Pg->start;
my $http = 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
         . 'weaveit_signup_points 3; weaveit_generate_cost 2;';
my $pricey = 'location = /api/generate-pricey {'
           . ' weaveit_generate; weaveit_generate_cost 5; }';
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => $http, server => api_locations() . $pricey);

sub points { $ngx->get("/api/users/$_[0]/points") }

my $r = post_job($ngx, script => 'First.');
is $r->{status}, 202, 'a new user can afford one job';
is_deeply decode_json(points(WALLET)->{body}),
    { walletAddress => WALLET, points => 1 },
    'signup 3 - cost 2 = 1 point left';

$r = post_job($ngx, script => 'Second.');
is $r->{status}, 402, 'the second job: 402';
is_deeply $r->{json}, { error => 'Not enough points', required => 2,
                        points => 1 },
    'saying what is required and what the user has';
is $pg->psql('SELECT count(*) FROM video_jobs'), 1, 'no job written';
is decode_json(points(WALLET)->{body})->{points}, 1, 'no point taken';

$r = $ngx->request(method => 'POST', path => '/api/generate-pricey',
    headers => { 'Content-Type' => 'application/json' },
    body => encode_json({ script => 'x', walletAddress => WALLET2 }));
is $r->{status}, 402, 'a new user who cannot afford the first job: 402';
is decode_json($r->{body})->{points}, 3, 'would have had the signup points';
is points(WALLET2)->{status}, 404, 'and was not even created';

$ngx->stop;

# A generation that fails (this "font" is no font) gives the points back.
my $bad = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => $http . 'weaveit_font /etc/hostname;', server => api_locations());
$r = post_job($bad, script => 'Doomed.', wallet => $WALLET3);
is $r->{status}, 202, 'accepted';
# (the failure may already have refunded it: read the charge off the job)
is $pg->psql("SELECT points_charged FROM video_jobs "
             . "WHERE job_id = '$r->{json}{jobId}'"), 2, 'charged 2 points';
my ($seen, $st) = wait_job($bad, $r->{json}{jobId});
is $st->{status}, 'failed', 'the job failed';
like $st->{error}, qr/\S/, "with a readable error: $st->{error}";
is $st->{ready}, JSON::PP::false, 'not ready';
is decode_json($bad->get("/api/users/$WALLET3/points")->{body})->{points}, 3,
    'the points were refunded';

$r = post_job($bad, script => 'Doomed too.', wallet => $WALLET3,
              query => '?wait=1');
is $r->{status}, 500, 'wait mode: 500 when generation fails';
is_deeply [ sort keys %{ $r->{json} } ], [qw(error jobId)],
    'with the original fields';
is $r->{json}{error}, 'Failed to generate video', 'and message';

$bad->stop;
unlike $bad->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
