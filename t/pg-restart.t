# PostgreSQL going away and coming back never needs an nginx restart:
# health answers 503 quickly while it is down and 200 once it is back.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test;

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg,
    http => 'weaveit_db_pool max=4 timeout=2s;',
    server => 'location = /api/db/health { weaveit_health; }');

is $ngx->get('/api/db/health')->{status}, 200, 'healthy at first';

$pg->stop('fast');

my $r = $ngx->get('/api/db/health');
is $r->{status}, 503, 'PostgreSQL stopped: 503';
is_deeply decode_json($r->{body}),
    { ok => JSON::PP::false, error => 'Database unavailable' },
    'with {"ok":false,"error":"Database unavailable"}';
cmp_ok $r->{elapsed}, '<', 3, 'within the pool timeout (+1 s)';

my $s = $ngx->get('/static');
is $s->{status}, 200, 'another location keeps answering';

$pg->restart;

is $ngx->get('/api/db/health')->{status}, 200,
    'PostgreSQL started again: 200, nginx untouched';
is $ngx->get('/api/db/health')->{status}, 200, 'and it stays so';

like $ngx->error_log, qr/weaveit: .*connect.*(No such file|refused)/,
    "libpq's reason reached error_log";

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
