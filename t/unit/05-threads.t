#!/usr/bin/perl
# two generations in two threads at once (t/unit/test_threads.c)
my $build = $ENV{WEAVEIT_BUILD} // 'build';
exec "$build/unit/test_threads" or die "run make core first: $!";
