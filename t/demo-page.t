# The demo page (weaveit_demo) in a real browser: headless Chromium fills
# the form, the job runs, the video loads and plays; an API error shows on
# the page.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test;
use WeaveIt::Jobs qw(api_locations thread_pool);

my $root = WeaveIt::Test::root();
-d "$root/build/browser/node_modules/playwright-core"
    or BAIL_OUT('playwright-core missing: make test installs it');

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;',
    server => api_locations() . '
        location = / { weaveit_demo; }
        location ~ ^/api/videos/(?<video_id>[^/]+)$ {
            weaveit_video $video_id;
        }');
$pg->wait_schema;

my $r = $ngx->get('/');
is $r->{status}, 200, 'GET / serves the page';
is $r->{headers}{'content-type'}, 'text/html; charset=utf-8', '  as HTML';
is $ngx->request(method => 'POST', path => '/', body => 'x')->{status}, 405,
    '  and only for GET and HEAD';

my $dir = WeaveIt::Test::new_dir();
my $shot = "$dir/demo.png";
my $out = `node $root/t/browser/demo-page.js http://127.0.0.1:${\ $ngx->port}/ $dir/chromium $shot`;
my $seen = eval { decode_json($out) } // { fatal => $out };
note explain $seen;

ok !$seen->{fatal}, 'the browser ran the page'
    or diag $seen->{fatal};
like $seen->{title}, qr/WeaveIt/, 'the page has its title';
is $seen->{error}, undef, 'no error shown';
like $seen->{status}, qr/completed/, "the page followed the job: $seen->{status}";
is $seen->{progress}, 100, 'progress bar full';
like $seen->{src}, qr{^/api/videos/[0-9a-f-]{36}$}, 'the video comes from the API';
cmp_ok $seen->{duration} // 0, '>', 1, "the video loaded ($seen->{duration} s)";
cmp_ok $seen->{played} // 0, '>', 0.5, 'and plays';
is $seen->{badWalletError},
    'walletAddress must be a Solana base58 public key',
    "the API's error shows on the page";
ok -s $shot, "screenshot at $shot";

is $pg->psql("SELECT title FROM video_jobs WHERE status = 'completed'"),
    'Demo page test', 'the job was made from the form';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
