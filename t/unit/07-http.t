#!/usr/bin/perl
# HTTP rules on plain buffers: Range, ETag lists, preconditions, If-Range,
# Content-Disposition, UUID and wallet syntax, base58, the signed text and
# its timestamp window (t/unit/test_http.c)
my $build = $ENV{WEAVEIT_BUILD} // 'build';
exec "$build/unit/test_http" or die "run make first: $!";
