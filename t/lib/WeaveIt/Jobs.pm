package WeaveIt::Jobs;

# Helpers for the job tests: the API locations, posting jobs, waiting for
# them, and reading a stored video back from PostgreSQL.

use strict;
use warnings;

use Exporter qw(import);
use JSON::PP;
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(api_locations thread_pool post_job job_status
                    wait_job stored_video ffprobe_json script_words
                    WALLET WALLET2);

# Two valid Solana public keys.
use constant WALLET  => '4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T';
use constant WALLET2 => 'So11111111111111111111111111111111111111112';

sub thread_pool { 'thread_pool weaveit threads=2 max_queue=64;' }

sub api_locations {
    return <<'CONF';
        location = /api/db/health { weaveit_health; }
        location = /api/generate { weaveit_generate; }
        location ~ ^/api/videos/status/(?<job_id>[^/]+)$ {
            weaveit_status $job_id;
        }
        location ~ ^/api/wallet/(?<wallet>[^/]+)/videos$ {
            weaveit_wallet_videos $wallet;
        }
        location ~ ^/api/users/(?<wallet>[^/]+)/points$ {
            weaveit_points $wallet;
        }
CONF
}

# A script of about $n words, prose and a little indented code.
sub script_words {
    my ($n) = @_;
    my @words = qw(the module renders every line of the script while the
                   narrator reads it aloud and the view scrolls along);
    my $text = '';
    for my $i (0 .. $n - 1) {
        $text .= $words[$i % @words];
        $text .= ($i % 12 == 11) ? ".\n" : ' ';
    }
    return "$text\n    if (ready) {\n        play();\n    }\n";
}

sub post_job {
    my ($ngx, %a) = @_;
    my %body = (script => $a{script} // 'Hello from WeaveIt.',
                walletAddress => $a{wallet} // WALLET);
    $body{title} = $a{title} if defined $a{title};
    $body{voice} = $a{voice} if exists $a{voice};
    $body{format} = $a{format} if exists $a{format};
    $body{theme} = $a{theme} if exists $a{theme};
    my $r = $ngx->request(method => 'POST',
        path => '/api/generate' . ($a{query} // ''),
        headers => { 'Content-Type' => 'application/json' },
        body => encode_json(\%body), timeout => $a{timeout} // 120);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub job_status {
    my ($ngx, $id) = @_;
    my $r = $ngx->get("/api/videos/status/$id");
    return eval { decode_json($r->{body}) } // {};
}

# Polls the status until the job ends; returns the statuses seen, in order
# and without repeats, and the last status object.
sub wait_job {
    my ($ngx, $id, $timeout) = @_;
    my (@seen, $st);
    return ([], {}) unless defined $id;
    my $end = time + ($timeout // 120);
    while (time < $end) {
        $st = job_status($ngx, $id);
        my $s = $st->{status} // 'none';
        push @seen, $s unless @seen && $seen[-1] eq $s;
        last if $s eq 'completed' || $s eq 'failed';
        sleep 0.02;
    }
    return (\@seen, $st);
}

# The stored MP4 of a job, written to a file: returns the path.
sub stored_video {
    my ($pg, $job_id, $path) = @_;
    my $hex = $pg->psql("SELECT encode(video_data, 'hex') FROM videos "
                        . "WHERE job_id = '$job_id'");
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh pack('H*', $hex);
    close $fh;
    return $path;
}

sub ffprobe_json {
    my ($path) = @_;
    my $out = `ffprobe -v error -print_format json -show_format -show_streams '$path'`;
    return eval { decode_json($out) } // {};
}

1;
