package WeaveIt::Cache;

# nginx with conf/weaveit-cache.conf, the example of a video cache on
# every host, as it ships: only its database, its two ports and its cache
# directory are moved into a test directory, and it is read inside an
# http block as Debian's nginx.conf reads conf.d.  For t/cache.t and
# bench/stream.

use strict;
use warnings;

use WeaveIt::Test;

my $EXAMPLE = 'conf/weaveit-cache.conf';

# Starts it and returns the WeaveIt::Nginx, whose port is the public
# server's, {origin} the port of the module's video location behind the
# cache and {cache} the cache directory.  Arguments: pg, workers (1),
# auth (the example's weaveit_auth: signature), valid (how long a slice
# is fresh: the example's 1h).
sub start {
    my (%a) = @_;
    my $dir = WeaveIt::Test::new_dir();
    my $port = WeaveIt::Test::free_port();
    my $origin = WeaveIt::Test::free_port();
    my $cache = "$dir/cache";
    my $conninfo = $a{pg}->conninfo;
    my $auth = $a{auth} // 'signature';
    my $valid = $a{valid} // '1h';

    open my $in, '<', WeaveIt::Test::root() . "/$EXAMPLE"
        or die "$EXAMPLE: $!";
    my $site = do { local $/; <$in> };
    close $in;

    my @moved = (
        [ qr{weaveit_db "[^"]*";}, "weaveit_db \"$conninfo\";" ],
        [ qr{127\.0\.0\.1:8080;}, "127.0.0.1:$port;" ],
        [ qr{127\.0\.0\.1:8081;}, "127.0.0.1:$origin;" ],
        [ qr{/var/lib/nginx/weaveit-videos }, "$cache " ],
        [ qr{weaveit_auth signature;}, "weaveit_auth $auth;" ],
        [ qr{proxy_cache_valid 200 206 1h;},
          "proxy_cache_valid 200 206 $valid;" ],
    );
    for my $m (@moved) {
        $site =~ s/$m->[0]/$m->[1]/g
            or die "$EXAMPLE has no $m->[0] any more\n";
    }
    open my $out, '>', "$dir/weaveit-cache.conf" or die "$dir: $!";
    print $out $site;
    close $out;

    my $workers = $a{workers} // 1;
    my $conf = WeaveIt::Nginx::config_text(dir => $dir, workers => $workers,
        main => 'worker_rlimit_nofile 8192;', no_server => 1,
        http => "include $dir/weaveit-cache.conf;");
    return WeaveIt::Nginx->start(dir => $dir, port => $port,
                                 workers => $workers, conf => $conf,
                                 origin => $origin, cache => $cache);
}

# The slices in the cache directory.
sub files {
    my ($ngx) = @_;
    return grep { -f } glob "$ngx->{cache}/*/*/*";
}

1;
