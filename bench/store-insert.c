
/*
 * bench/store's helper: stores COUNT videos of SIZE random bytes as the
 * module does, each one INSERT of a binary BYTEA parameter with its job,
 * and prints the mean and the best milliseconds an INSERT took.
 *
 *     store-insert CONNINFO SIZE COUNT WALLET
 */


#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>


static const char  store_sql[] =
    "WITH j AS (INSERT INTO video_jobs (wallet_address, status)"
    "  VALUES ($2, 'completed') RETURNING job_id)"
    " INSERT INTO videos (job_id, wallet_address, video_data)"
    " SELECT job_id, $2, $1 FROM j";


static double
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


int
main(int argc, char **argv)
{
    int          i, count, lengths[2], formats[2];
    char        *video;
    size_t       size, b;
    double       start, ms, total, best;
    PGconn      *conn;
    PGresult    *res;
    const char  *values[2];

    if (argc != 5) {
        fprintf(stderr, "usage: store-insert CONNINFO SIZE COUNT WALLET\n");
        return 2;
    }

    size = strtoul(argv[2], NULL, 10);
    count = atoi(argv[3]);

    conn = PQconnectdb(argv[1]);
    video = malloc(size);

    if (PQstatus(conn) != CONNECTION_OK || video == NULL || count < 1) {
        fprintf(stderr, "store-insert: %s", PQerrorMessage(conn));
        return 1;
    }

    /* random bytes: MP4 does not compress, and neither does this */

    srandom(1);

    for (b = 0; b < size; b++) {
        video[b] = (char) random();
    }

    values[0] = video;
    values[1] = argv[4];
    lengths[0] = (int) size;
    lengths[1] = 0;
    formats[0] = 1;
    formats[1] = 0;
    total = 0;
    best = 0;

    for (i = 0; i < count; i++) {
        start = now_ms();
        res = PQexecParams(conn, store_sql, 2, NULL, values, lengths,
                           formats, 0);
        ms = now_ms() - start;

        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "store-insert: %s", PQerrorMessage(conn));
            return 1;
        }

        PQclear(res);
        total += ms;
        best = (i == 0 || ms < best) ? ms : best;
    }

    printf("%.1f %.1f\n", total / count, best);

    PQfinish(conn);
    free(video);

    return 0;
}
