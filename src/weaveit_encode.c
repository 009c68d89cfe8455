/*
 * Encoding: libx264 (yuv420p) and the native AAC encoder, muxed into an MP4
 * held in memory.  The muxer writes through a custom AVIOContext (write and
 * seek over a growing buffer); for faststart, movenc re-opens "the file"
 * for reading to move the moov atom before mdat, so io_open/io_close2 hand
 * it a reader over the same buffer.  No temporary files.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "weaveit_internal.h"


#define WEAVEIT_AVIO_BUFFER   65536
#define WEAVEIT_AAC_BITRATE   64000


typedef struct {
    unsigned char      *data;
    size_t              size;
    size_t              alloc;
    size_t              pos;
} weaveit_membuf_t;


typedef struct {
    weaveit_membuf_t   *buf;
    size_t              pos;
} weaveit_memreader_t;


struct weaveit_encoder_s {
    AVFormatContext    *oc;
    AVIOContext        *pb;
    weaveit_membuf_t    out;

    AVCodecContext     *video;
    AVCodecContext     *audio;
    AVStream           *video_stream;
    AVStream           *audio_stream;
    AVFrame            *picture;
    AVFrame            *samples;
    AVPacket           *packet;
    AVPacket           *held;           /* last video packet, no duration */
    SwrContext         *swr;

    int                 holding;
    int64_t             audio_pts;
    int                 pending;        /* samples waiting in "samples" */
};


static int weaveit_mem_write(void *opaque, uint8_t *buf, int size);
static int64_t weaveit_mem_seek(void *opaque, int64_t offset, int whence);
static int weaveit_mem_read(void *opaque, uint8_t *buf, int size);
static int64_t weaveit_mem_reader_seek(void *opaque, int64_t offset,
    int whence);
static int weaveit_io_open(AVFormatContext *s, AVIOContext **pb,
    const char *url, int flags, AVDictionary **options);
static int weaveit_io_close2(AVFormatContext *s, AVIOContext *pb);
static int weaveit_encoder_open_muxer(weaveit_encoder_t *e, char *err,
    size_t errlen);
static AVCodecContext *weaveit_encoder_stream(weaveit_encoder_t *e,
    const AVCodec *codec, const char *name, AVStream **st, char *err,
    size_t errlen);
static int weaveit_encoder_start(AVCodecContext *c, AVStream *st,
    AVDictionary **opts, const char *cannot_open, char *err, size_t errlen);
static int weaveit_encoder_open_video(weaveit_encoder_t *e,
    const weaveit_params_t *p, char *err, size_t errlen);
static int weaveit_encoder_open_picture(weaveit_encoder_t *e, char *err,
    size_t errlen);
static int weaveit_encoder_open_audio(weaveit_encoder_t *e, int sample_rate,
    char *err, size_t errlen);
static int weaveit_encoder_open_samples(weaveit_encoder_t *e, char *err,
    size_t errlen);
static int weaveit_encoder_send(weaveit_encoder_t *e, AVCodecContext *c,
    AVStream *st, AVFrame *frame, char *err, size_t errlen);
static int weaveit_encoder_flush_audio(weaveit_encoder_t *e, char *err,
    size_t errlen);
static int weaveit_encoder_write(weaveit_encoder_t *e, AVPacket *pkt,
    AVCodecContext *c, AVStream *st, char *err, size_t errlen);
static void weaveit_av_error(char *err, size_t errlen, const char *what,
    int rc);
static void weaveit_av_log_once(void);


static pthread_once_t  weaveit_av_once = PTHREAD_ONCE_INIT;


/*
 * libx264 and the muxer log chatter at "info" on stderr (the nginx error
 * log) for every video; errors come back to the caller as messages anyway.
 * An embedder that chose its own level keeps it.
 */

static void
weaveit_av_log_once(void)
{
    if (av_log_get_level() == AV_LOG_INFO) {
        av_log_set_level(AV_LOG_ERROR);
    }
}


static void
weaveit_av_error(char *err, size_t errlen, const char *what, int rc)
{
    char  msg[AV_ERROR_MAX_STRING_SIZE];

    av_strerror(rc, msg, sizeof(msg));
    weaveit_error(err, errlen, "FFmpeg: %s: %s", what, msg);
}


static int
weaveit_mem_write(void *opaque, uint8_t *buf, int size)
{
    size_t             end, alloc;
    unsigned char     *data;
    weaveit_membuf_t  *m;

    m = opaque;
    end = m->pos + (size_t) size;

    if (end > m->alloc) {
        alloc = m->alloc ? m->alloc : 1024 * 1024;

        while (alloc < end) {
            alloc *= 2;
        }

        data = realloc(m->data, alloc);
        if (data == NULL) {
            return AVERROR(ENOMEM);
        }

        m->data = data;
        m->alloc = alloc;
    }

    if (m->pos > m->size) {
        /* a seek past the end leaves a hole: zero it like a file would */
        memset(m->data + m->size, 0, m->pos - m->size);
    }

    memcpy(m->data + m->pos, buf, (size_t) size);
    m->pos = end;

    if (end > m->size) {
        m->size = end;
    }

    return size;
}


static int64_t
weaveit_seek_position(size_t pos, size_t size, int64_t offset, int whence)
{
    switch (whence & ~AVSEEK_FORCE) {

    case AVSEEK_SIZE:
        return (int64_t) size;

    case SEEK_SET:
        break;

    case SEEK_CUR:
        offset += (int64_t) pos;
        break;

    case SEEK_END:
        offset += (int64_t) size;
        break;

    default:
        return AVERROR(EINVAL);
    }

    return (offset < 0) ? AVERROR(EINVAL) : offset;
}


static int64_t
weaveit_mem_seek(void *opaque, int64_t offset, int whence)
{
    int64_t            pos;
    weaveit_membuf_t  *m;

    m = opaque;
    pos = weaveit_seek_position(m->pos, m->size, offset, whence);

    if (pos >= 0 && (whence & ~AVSEEK_FORCE) != AVSEEK_SIZE) {
        m->pos = (size_t) pos;
    }

    return pos;
}


static int
weaveit_mem_read(void *opaque, uint8_t *buf, int size)
{
    size_t                n;
    weaveit_memreader_t  *r;

    r = opaque;

    if (r->pos >= r->buf->size) {
        return AVERROR_EOF;
    }

    n = r->buf->size - r->pos;

    if (n > (size_t) size) {
        n = (size_t) size;
    }

    memcpy(buf, r->buf->data + r->pos, n);
    r->pos += n;

    return (int) n;
}


static int64_t
weaveit_mem_reader_seek(void *opaque, int64_t offset, int whence)
{
    int64_t               pos;
    weaveit_memreader_t  *r;

    r = opaque;
    pos = weaveit_seek_position(r->pos, r->buf->size, offset, whence);

    if (pos >= 0 && (whence & ~AVSEEK_FORCE) != AVSEEK_SIZE) {
        r->pos = (size_t) pos;
    }

    return pos;
}


/*
 * movenc's faststart pass (shift_data) re-opens the output by name for
 * reading; the only "file" we have is the buffer being written.
 */

static int
weaveit_io_open(AVFormatContext *s, AVIOContext **pb, const char *url,
    int flags, AVDictionary **options)
{
    unsigned char        *buffer;
    weaveit_encoder_t    *e;
    weaveit_memreader_t  *r;

    (void) url;
    (void) options;

    if ((flags & AVIO_FLAG_WRITE) || s->opaque == NULL) {
        return AVERROR(EPERM);
    }

    e = s->opaque;

    r = malloc(sizeof(weaveit_memreader_t));
    buffer = av_malloc(WEAVEIT_AVIO_BUFFER);

    if (r == NULL || buffer == NULL) {
        free(r);
        av_free(buffer);
        return AVERROR(ENOMEM);
    }

    r->buf = &e->out;
    r->pos = 0;

    *pb = avio_alloc_context(buffer, WEAVEIT_AVIO_BUFFER, 0, r,
                             weaveit_mem_read, NULL, weaveit_mem_reader_seek);
    if (*pb == NULL) {
        free(r);
        av_free(buffer);
        return AVERROR(ENOMEM);
    }

    return 0;
}


static int
weaveit_io_close2(AVFormatContext *s, AVIOContext *pb)
{
    (void) s;

    if (pb == NULL) {
        return 0;
    }

    free(pb->opaque);
    av_freep(&pb->buffer);
    avio_context_free(&pb);

    return 0;
}


weaveit_encoder_t *
weaveit_encoder_open(const weaveit_params_t *p, int sample_rate, char *err,
    size_t errlen)
{
    int                 rc;
    AVDictionary       *opts;
    weaveit_encoder_t  *e;

    pthread_once(&weaveit_av_once, weaveit_av_log_once);

    e = calloc(1, sizeof(weaveit_encoder_t));
    if (e == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return NULL;
    }

    if (weaveit_encoder_open_muxer(e, err, errlen) != 0) {
        goto failed;
    }

    e->packet = av_packet_alloc();
    e->held = av_packet_alloc();

    if (e->packet == NULL || e->held == NULL) {
        weaveit_error(err, errlen, "out of memory");
        goto failed;
    }

    if (weaveit_encoder_open_video(e, p, err, errlen) != 0
        || weaveit_encoder_open_audio(e, sample_rate, err, errlen) != 0)
    {
        goto failed;
    }

    opts = NULL;
    av_dict_set(&opts, "movflags", "+faststart", 0);

    rc = avformat_write_header(e->oc, &opts);
    av_dict_free(&opts);

    if (rc < 0) {
        weaveit_av_error(err, errlen, "cannot write the MP4 header", rc);
        goto failed;
    }

    return e;

failed:

    weaveit_encoder_close(e);
    return NULL;
}


/* an MP4 muxer writing into e->out through an AVIOContext of our own */

static int
weaveit_encoder_open_muxer(weaveit_encoder_t *e, char *err, size_t errlen)
{
    int             rc;
    unsigned char  *buffer;

    rc = avformat_alloc_output_context2(&e->oc, NULL, "mp4", "memory.mp4");
    if (rc < 0) {
        weaveit_av_error(err, errlen, "cannot create the MP4 muxer", rc);
        return -1;
    }

    buffer = av_malloc(WEAVEIT_AVIO_BUFFER);
    if (buffer == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    e->pb = avio_alloc_context(buffer, WEAVEIT_AVIO_BUFFER, 1, &e->out, NULL,
                               weaveit_mem_write, weaveit_mem_seek);
    if (e->pb == NULL) {
        av_free(buffer);
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    e->oc->pb = e->pb;
    e->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    e->oc->opaque = e;
    e->oc->io_open = weaveit_io_open;
    e->oc->io_close2 = weaveit_io_close2;

    return 0;
}


/*
 * A stream in the MP4 and a context for the encoder that fills it; codec
 * is NULL when this FFmpeg was built without it.
 */

static AVCodecContext *
weaveit_encoder_stream(weaveit_encoder_t *e, const AVCodec *codec,
    const char *name, AVStream **st, char *err, size_t errlen)
{
    AVCodecContext  *c;

    if (codec == NULL) {
        weaveit_error(err, errlen, "FFmpeg: the %s encoder is missing", name);
        return NULL;
    }

    *st = avformat_new_stream(e->oc, NULL);
    c = avcodec_alloc_context3(codec);

    if (*st == NULL || c == NULL) {
        avcodec_free_context(&c);
        weaveit_error(err, errlen, "out of memory");
        return NULL;
    }

    if (e->oc->oformat->flags & AVFMT_GLOBALHEADER) {
        c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    }

    return c;
}


/*
 * opens the encoder with its options (and frees them), then tells the
 * muxer what the stream holds; cannot_open is the message if it fails
 */

static int
weaveit_encoder_start(AVCodecContext *c, AVStream *st, AVDictionary **opts,
    const char *cannot_open, char *err, size_t errlen)
{
    int   rc;
    char  what[32];

    rc = avcodec_open2(c, c->codec, opts);
    av_dict_free(opts);

    if (rc < 0) {
        weaveit_av_error(err, errlen, cannot_open, rc);
        return -1;
    }

    rc = avcodec_parameters_from_context(st->codecpar, c);
    if (rc < 0) {
        snprintf(what, sizeof(what), "%s stream parameters",
                 av_get_media_type_string(c->codec_type));
        weaveit_av_error(err, errlen, what, rc);
        return -1;
    }

    st->time_base = c->time_base;

    return 0;
}


static int
weaveit_encoder_open_video(weaveit_encoder_t *e, const weaveit_params_t *p,
    char *err, size_t errlen)
{
    char              value[32];
    AVCodecContext   *c;
    AVDictionary     *opts;

    c = weaveit_encoder_stream(e, avcodec_find_encoder_by_name("libx264"),
                               "libx264", &e->video_stream, err, errlen);
    if (c == NULL) {
        return -1;
    }

    e->video = c;

    c->width = p->width;
    c->height = p->height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = (AVRational) { 1, p->fps };
    c->framerate = (AVRational) { p->fps, 1 };
    c->gop_size = p->fps * 4;

    /*
     * no B-frames: packets come out in presentation order, so each one's
     * duration is known when the next arrives (frames are sent only when
     * the picture changes), and they cost speed for little gain here
     */
    c->max_b_frames = 0;
    c->color_range = AVCOL_RANGE_MPEG;
    c->colorspace = AVCOL_SPC_BT709;
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;

    opts = NULL;
    av_dict_set(&opts, "preset", p->x264_preset, 0);
    snprintf(value, sizeof(value), "%d", p->crf);
    av_dict_set(&opts, "crf", value, 0);
    snprintf(value, sizeof(value), "%d", p->threads);
    av_dict_set(&opts, "threads", value, 0);

    if (weaveit_encoder_start(c, e->video_stream, &opts,
                              "cannot open libx264 (check the preset)", err,
                              errlen) != 0)
    {
        return -1;
    }

    return weaveit_encoder_open_picture(e, err, errlen);
}


static int
weaveit_encoder_open_picture(weaveit_encoder_t *e, char *err, size_t errlen)
{
    int  rc;

    e->picture = av_frame_alloc();
    if (e->picture == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    e->picture->format = e->video->pix_fmt;
    e->picture->width = e->video->width;
    e->picture->height = e->video->height;

    rc = av_frame_get_buffer(e->picture, 0);
    if (rc < 0) {
        weaveit_av_error(err, errlen, "cannot allocate a picture", rc);
        return -1;
    }

    return 0;
}


static int
weaveit_encoder_open_audio(weaveit_encoder_t *e, int sample_rate, char *err,
    size_t errlen)
{
    int                     rc;
    AVDictionary           *opts;
    AVCodecContext         *c;
    const AVChannelLayout   mono = AV_CHANNEL_LAYOUT_MONO;

    c = weaveit_encoder_stream(e, avcodec_find_encoder(AV_CODEC_ID_AAC),
                               "AAC", &e->audio_stream, err, errlen);
    if (c == NULL) {
        return -1;
    }

    e->audio = c;

    /* espeak-ng's own rate: AAC-LC plays it everywhere, no resampling */
    c->sample_fmt = AV_SAMPLE_FMT_FLTP;
    c->sample_rate = sample_rate;
    c->bit_rate = WEAVEIT_AAC_BITRATE;
    c->time_base = (AVRational) { 1, sample_rate };

    rc = av_channel_layout_copy(&c->ch_layout, &mono);
    if (rc < 0) {
        weaveit_av_error(err, errlen, "channel layout", rc);
        return -1;
    }

    /*
     * the default "twoloop" quantiser search costs a third of the whole
     * generation for speech that "fast" codes as well at this bitrate
     */
    opts = NULL;
    av_dict_set(&opts, "aac_coder", "fast", 0);

    if (weaveit_encoder_start(c, e->audio_stream, &opts,
                              "cannot open the AAC encoder", err, errlen)
        != 0)
    {
        return -1;
    }

    return weaveit_encoder_open_samples(e, err, errlen);
}


/* s16 mono in, the encoder's planar float out, same rate */

static int
weaveit_encoder_open_samples(weaveit_encoder_t *e, char *err, size_t errlen)
{
    int              rc;
    AVCodecContext  *c;

    c = e->audio;

    rc = swr_alloc_set_opts2(&e->swr, &c->ch_layout, c->sample_fmt,
                             c->sample_rate, &c->ch_layout, AV_SAMPLE_FMT_S16,
                             c->sample_rate, 0, NULL);
    if (rc < 0 || (rc = swr_init(e->swr)) < 0) {
        weaveit_av_error(err, errlen, "libswresample", rc);
        return -1;
    }

    e->samples = av_frame_alloc();
    if (e->samples == NULL) {
        weaveit_error(err, errlen, "out of memory");
        return -1;
    }

    e->samples->format = c->sample_fmt;
    e->samples->sample_rate = c->sample_rate;
    e->samples->nb_samples = c->frame_size;

    rc = av_channel_layout_copy(&e->samples->ch_layout, &c->ch_layout);
    if (rc >= 0) {
        rc = av_frame_get_buffer(e->samples, 0);
    }

    if (rc < 0) {
        weaveit_av_error(err, errlen, "cannot allocate audio samples", rc);
        return -1;
    }

    return 0;
}


int
weaveit_encoder_picture(weaveit_encoder_t *e, uint8_t *data[3],
    int linesize[3], char *err, size_t errlen)
{
    int  rc, i;

    /* the encoder may still hold a reference to the previous picture */
    rc = av_frame_make_writable(e->picture);
    if (rc < 0) {
        weaveit_av_error(err, errlen, "picture", rc);
        return -1;
    }

    for (i = 0; i < 3; i++) {
        data[i] = e->picture->data[i];
        linesize[i] = e->picture->linesize[i];
    }

    return 0;
}


int
weaveit_encoder_video(weaveit_encoder_t *e, int64_t pts, char *err,
    size_t errlen)
{
    e->picture->pts = pts;

    return weaveit_encoder_send(e, e->video, e->video_stream, e->picture,
                                err, errlen);
}


static int
weaveit_encoder_send(weaveit_encoder_t *e, AVCodecContext *c, AVStream *st,
    AVFrame *frame, char *err, size_t errlen)
{
    int  rc;

    rc = avcodec_send_frame(c, frame);
    if (rc < 0) {
        weaveit_av_error(err, errlen, "cannot encode", rc);
        return -1;
    }

    for ( ;; ) {
        rc = avcodec_receive_packet(c, e->packet);

        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            return 0;
        }

        if (rc < 0) {
            weaveit_av_error(err, errlen, "cannot encode", rc);
            return -1;
        }

        if (c != e->video) {
            if (weaveit_encoder_write(e, e->packet, c, st, err, errlen) != 0)
            {
                return -1;
            }

            continue;
        }

        /* a picture lasts until the next one starts */
        if (e->holding) {
            e->held->duration = e->packet->pts - e->held->pts;

            if (weaveit_encoder_write(e, e->held, c, st, err, errlen) != 0) {
                return -1;
            }
        }

        av_packet_move_ref(e->held, e->packet);
        e->holding = 1;
    }
}


static int
weaveit_encoder_write(weaveit_encoder_t *e, AVPacket *pkt, AVCodecContext *c,
    AVStream *st, char *err, size_t errlen)
{
    int  rc;

    av_packet_rescale_ts(pkt, c->time_base, st->time_base);
    pkt->stream_index = st->index;

    rc = av_interleaved_write_frame(e->oc, pkt);
    if (rc < 0) {
        weaveit_av_error(err, errlen, "cannot write to the MP4", rc);
        return -1;
    }

    return 0;
}


int
weaveit_encoder_audio(weaveit_encoder_t *e, const int16_t *pcm, size_t n,
    char *err, size_t errlen)
{
    int             rc, take;
    uint8_t        *out[1];
    const uint8_t  *in[1];

    while (n > 0) {
        take = e->audio->frame_size - e->pending;

        if ((size_t) take > n) {
            take = (int) n;
        }

        if (e->pending == 0) {
            rc = av_frame_make_writable(e->samples);
            if (rc < 0) {
                weaveit_av_error(err, errlen, "audio frame", rc);
                return -1;
            }
        }

        out[0] = e->samples->data[0] + (size_t) e->pending * sizeof(float);

        if (pcm == NULL) {
            memset(out[0], 0, (size_t) take * sizeof(float));

        } else {
            in[0] = (const uint8_t *) pcm;
            rc = swr_convert(e->swr, out, take, in, take);

            if (rc != take) {
                weaveit_av_error(err, errlen, "sample conversion",
                                 rc < 0 ? rc : AVERROR_BUG);
                return -1;
            }

            pcm += take;
        }

        e->pending += take;
        n -= (size_t) take;

        if (e->pending == e->audio->frame_size
            && weaveit_encoder_flush_audio(e, err, errlen) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
weaveit_encoder_flush_audio(weaveit_encoder_t *e, char *err, size_t errlen)
{
    if (e->pending == 0) {
        return 0;
    }

    e->samples->nb_samples = e->pending;
    e->samples->pts = e->audio_pts;
    e->audio_pts += e->pending;
    e->pending = 0;

    return weaveit_encoder_send(e, e->audio, e->audio_stream, e->samples,
                                err, errlen);
}


int
weaveit_encoder_finish(weaveit_encoder_t *e, int64_t end_pts,
    unsigned char **data, size_t *size, char *err, size_t errlen)
{
    int  rc;

    /* a short last frame is fine: the AAC encoder accepts one */
    if (weaveit_encoder_flush_audio(e, err, errlen) != 0
        || weaveit_encoder_send(e, e->video, e->video_stream, NULL,
                                err, errlen) != 0
        || weaveit_encoder_send(e, e->audio, e->audio_stream, NULL,
                                err, errlen) != 0)
    {
        return -1;
    }

    if (e->holding) {
        e->held->duration = end_pts - e->held->pts;
        e->holding = 0;

        if (weaveit_encoder_write(e, e->held, e->video, e->video_stream, err,
                                  errlen) != 0)
        {
            return -1;
        }
    }

    rc = av_write_trailer(e->oc);

    if (rc < 0) {
        weaveit_av_error(err, errlen, "cannot finish the MP4", rc);
        return -1;
    }

    avio_flush(e->pb);

    if (e->pb->error < 0) {
        weaveit_av_error(err, errlen, "cannot write the MP4", e->pb->error);
        return -1;
    }

    *data = e->out.data;
    *size = e->out.size;

    e->out.data = NULL;
    e->out.size = 0;
    e->out.alloc = 0;

    return 0;
}


void
weaveit_encoder_close(weaveit_encoder_t *e)
{
    if (e == NULL) {
        return;
    }

    avcodec_free_context(&e->video);
    avcodec_free_context(&e->audio);
    av_frame_free(&e->picture);
    av_frame_free(&e->samples);
    av_packet_free(&e->packet);
    av_packet_free(&e->held);
    swr_free(&e->swr);

    /* AVFMT_FLAG_CUSTOM_IO: the context leaves our AVIOContext alone */
    avformat_free_context(e->oc);

    if (e->pb) {
        av_freep(&e->pb->buffer);
        avio_context_free(&e->pb);
    }

    free(e->out.data);
    free(e);
}


int
weaveit_encoder_preload(char *err, size_t errlen)
{
    pthread_once(&weaveit_av_once, weaveit_av_log_once);

    if (avcodec_find_encoder_by_name("libx264") == NULL
        || avcodec_find_encoder(AV_CODEC_ID_AAC) == NULL)
    {
        weaveit_error(err, errlen, "FFmpeg: the libx264 or AAC encoder is "
                      "missing");
        return -1;
    }

    return 0;
}
