# GET /api/db/health: 200 {"ok":true} after a real round trip; other
# methods 405 with Allow.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use WeaveIt::Test;

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg,
    server => 'location = /api/db/health { weaveit_health; }');

my $r = $ngx->get('/api/db/health');
is $r->{status}, 200, 'health answers 200';
is $r->{body}, '{"ok":true}', 'with exactly {"ok":true}';
is $r->{headers}{'content-type'}, 'application/json; charset=utf-8',
    'as JSON';

my $seen = $pg->psql("SELECT count(*) FROM pg_stat_activity "
                     . "WHERE application_name LIKE 'weaveit/%'");
cmp_ok $seen, '>=', 1, 'the answer came over a real PostgreSQL connection';

$r = $ngx->request(method => 'HEAD', path => '/api/db/health');
is $r->{status}, 200, 'HEAD is allowed';
is $r->{body}, '', 'HEAD has no body';

for my $method (qw(POST PUT DELETE)) {
    $r = $ngx->request(method => $method, path => '/api/db/health',
                       body => '{}');
    is $r->{status}, 405, "$method is 405";
    is $r->{headers}{allow}, 'GET, HEAD', "$method names the allowed methods";
    like $r->{body}, qr/"error"/, "$method gets a JSON error";
}

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/,
    'no alert in error.log after a graceful stop';

done_testing;
