/* otlp_proto: arena, message stream and resource domain shared by the OTLP
 * protobuf reader (ingest_otlp_proto.c), writer (trace_writer_otlp_proto.c)
 * and corrector (correct_proto.c). See otlp_proto.h. */
#include "ingest/otlp_proto.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/source.h"
#include "model/clock_domain.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

/* ---- arena ------------------------------------------------------------ */

#define ARENA_ALIGN 16
#define ARENA_MIN_BLOCK (256 * 1024)

struct arena_block {
    struct arena_block *next;
    size_t size; /* usable bytes after the header */
};

struct otlp_arena {
    ProtobufCAllocator pc; /* handed to protobuf-c */
    struct arena_block *head;
    unsigned char *cur, *end;
    size_t used_total; /* bytes handed out since the last reset */
    size_t heap;       /* bytes malloc'd */
};

#define BLOCK_HDR                                                              \
    ((sizeof(struct arena_block) + ARENA_ALIGN - 1) &                          \
     ~(size_t)(ARENA_ALIGN - 1))

static void *arena_pc_alloc(void *data, size_t size)
{
    return otlp_arena_alloc(data, size);
}

static void arena_pc_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

static int arena_grow(struct otlp_arena *a, size_t need)
{
    size_t size = a->head ? a->head->size * 2 : ARENA_MIN_BLOCK;

    if (size < need)
        size = need;
    struct arena_block *b = malloc(BLOCK_HDR + size);
    if (!b)
        return -1;
    b->next = a->head;
    b->size = size;
    a->head = b;
    a->cur = (unsigned char *)b + BLOCK_HDR;
    a->end = a->cur + size;
    a->heap += BLOCK_HDR + size;
    return 0;
}

struct otlp_arena *otlp_arena_create(void)
{
    struct otlp_arena *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->pc.alloc = arena_pc_alloc;
    a->pc.free = arena_pc_free;
    a->pc.allocator_data = a;
    return a;
}

static void arena_free_blocks(struct otlp_arena *a)
{
    struct arena_block *b = a->head;

    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->cur = a->end = NULL;
    a->heap = 0;
}

void otlp_arena_destroy(struct otlp_arena *a)
{
    if (!a)
        return;
    arena_free_blocks(a);
    free(a);
}

void *otlp_arena_alloc(struct otlp_arena *a, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;
    if ((size_t)(a->end - a->cur) < size && arena_grow(a, size) < 0)
        return NULL;
    void *p = a->cur;
    a->cur += size;
    a->used_total += size;
    return p;
}

void otlp_arena_reset(struct otlp_arena *a)
{
    /* After a message that needed several blocks, replace them with one
     * block as large as all of them: the next message of that size then
     * fits without growing. */
    if (a->head && a->head->next) {
        size_t want = a->used_total;
        arena_free_blocks(a);
        if (arena_grow(a, want) < 0)
            arena_free_blocks(a);
    } else if (a->head) {
        a->cur = (unsigned char *)a->head + BLOCK_HDR;
    }
    a->used_total = 0;
}

ProtobufCAllocator *otlp_arena_allocator(struct otlp_arena *a)
{
    return &a->pc;
}

size_t otlp_arena_memory(const struct otlp_arena *a)
{
    return sizeof(*a) + a->heap;
}

/* ---- varints and IDs -------------------------------------------------- */

/* Parse a varint from p (n bytes available). Returns its length, 0 when the
 * bytes end before it does, or -1 when it is longer than 10 bytes. */
static int get_varint(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;

    for (size_t i = 0; i < 10; i++) {
        if (i >= n)
            return 0;
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            return (int)i + 1;
        }
    }
    return -1;
}

size_t otlp_proto_put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

uint64_t otlp_proto_span_id(const uint8_t b[8])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

void otlp_proto_span_id_bytes(uint64_t id, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)id;
        id >>= 8;
    }
}

/* ---- nesting guard ---------------------------------------------------- */

/* protobuf-c decodes nested messages recursively without a depth limit, and
 * AnyValue arrays and maps nest without bound, so hostile input could
 * exhaust the stack. Walk the wire format first, following only fields the
 * descriptors say are messages. Each level of nesting costs at least two
 * bytes (tag and length), so a sub-message of len bytes cannot go deeper
 * than len / 2: such subtrees are skipped, which leaves only the few large
 * outer messages to walk. Returns 0, or -1 when too deep or not wire format
 * at all (protobuf-c then rejects it anyway). */
static int wire_walk(const uint8_t *p, size_t n,
                     const ProtobufCMessageDescriptor *d, unsigned depth)
{
    size_t i = 0;
    uint64_t tag, len;
    int k;

    if (depth + n / 2 <= OTLP_PROTO_MAX_DEPTH)
        return 0;
    if (depth >= OTLP_PROTO_MAX_DEPTH)
        return -1;
    while (i < n) {
        if ((k = get_varint(p + i, n - i, &tag)) <= 0)
            return -1;
        i += (size_t)k;
        switch (tag & 7) {
        case 0:
            if ((k = get_varint(p + i, n - i, &len)) <= 0)
                return -1;
            i += (size_t)k;
            break;
        case 1:
        case 5:
            if (n - i < ((tag & 7) == 1 ? 8u : 4u))
                return -1;
            i += (tag & 7) == 1 ? 8 : 4;
            break;
        case 2: {
            if ((k = get_varint(p + i, n - i, &len)) <= 0)
                return -1;
            i += (size_t)k;
            if (len > n - i)
                return -1;
            const ProtobufCFieldDescriptor *f =
                tag >> 3 > UINT32_MAX ? NULL
                                      : protobuf_c_message_descriptor_get_field(
                                            d, (unsigned)(tag >> 3));
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                wire_walk(p + i, (size_t)len, f->descriptor, depth + 1) < 0)
                return -1;
            i += (size_t)len;
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

bool otlp_proto_nesting_ok(const uint8_t *p, size_t n,
                           const ProtobufCMessageDescriptor *d, unsigned depth)
{
    return wire_walk(p, n, d, depth) == 0;
}

Request *otlp_proto_request_unpack(struct otlp_arena *a, const uint8_t *p,
                                   size_t n)
{
    const ProtobufCMessageDescriptor *d =
        &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;

    otlp_arena_reset(a);
    if (wire_walk(p, n, d, 0) < 0)
        return NULL;
    return opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        otlp_arena_allocator(a), n, p);
}

/* ---- message stream --------------------------------------------------- */

#define STREAM_CHUNK (1024 * 1024)

enum stream_mode { MODE_DETECT, MODE_DELIMITED, MODE_DONE };

struct otlp_proto_stream {
    struct source *src;
    struct otlp_arena *arena;
    uint8_t *buf;
    size_t cap, len, pos; /* buf[pos..len) not yet consumed */
    uint64_t base;        /* input offset of buf[0] */
    uint64_t msg_off;     /* input offset of the last message */
    enum stream_mode mode;
    bool eof;
    bool failed;         /* the source failed (or memory ran out) */
    unsigned empty_run;  /* empty messages in a row ... */
    uint64_t empty_from; /* ... from this input offset */
    /* otlp_proto_stream_next_raw(): hand over bytes, decode only what the
     * framing decision needs. cur* are the last message's bytes. */
    bool raw, plain;
    const uint8_t *cur;
    size_t cur_len;
    uint64_t cur_off;
    char why[256]; /* why the input was read as one plain message */
};

struct otlp_proto_stream *otlp_proto_stream_open(struct source *src)
{
    struct otlp_proto_stream *st = calloc(1, sizeof(*st));
    uint64_t lines, line_start;

    if (!st)
        return NULL;
    st->src = src;
    st->arena = otlp_arena_create();
    if (!st->arena) {
        free(st);
        return NULL;
    }
    /* Offsets count from where the source is: detection may have consumed
     * a blank run. */
    source_position(src, &st->base, &lines, &line_start);
    return st;
}

void otlp_proto_stream_close(struct otlp_proto_stream *st)
{
    if (!st)
        return;
    otlp_arena_destroy(st->arena);
    free(st->buf);
    free(st);
}

uint64_t otlp_proto_stream_offset(const struct otlp_proto_stream *st)
{
    return st->msg_off;
}

struct otlp_arena *otlp_proto_stream_arena(struct otlp_proto_stream *st)
{
    return st->arena;
}

size_t otlp_proto_stream_memory(const struct otlp_proto_stream *st)
{
    return sizeof(*st) + st->cap + otlp_arena_memory(st->arena);
}

/* Make room for `need` unconsumed bytes: drop consumed ones (not while
 * detecting, which may still reparse from byte 0) and grow geometrically,
 * never past what is needed, so a lying length prefix on a short input
 * costs no more memory than the input. */
static int stream_room(struct otlp_proto_stream *st, size_t need)
{
    if (st->pos > 0 && st->mode != MODE_DETECT) {
        memmove(st->buf, st->buf + st->pos, st->len - st->pos);
        st->base += st->pos;
        st->len -= st->pos;
        st->pos = 0;
    }
    if (st->len < st->cap)
        return 0;
    /* fill() only gets here with len - pos < need, so want > cap. */
    size_t want = st->pos + need;
    size_t cap = st->cap * 2;
    if (cap > want)
        cap = want;
    if (cap < STREAM_CHUNK)
        cap = STREAM_CHUNK;
    uint8_t *nb = realloc(st->buf, cap);
    if (!nb)
        return -1;
    st->buf = nb;
    st->cap = cap;
    return 0;
}

/* Ensure `need` unconsumed bytes, reading as required. Returns the bytes
 * available (fewer than need only at end of input), or a negated
 * ingest_status with err filled. */
static int64_t stream_fill(struct otlp_proto_stream *st, size_t need, char *err,
                           size_t errlen)
{
    while (st->len - st->pos < need && !st->eof) {
        if (stream_room(st, need) < 0) {
            snprintf(err, errlen, "%s: out of memory", source_name(st->src));
            st->failed = true;
            return -INGEST_E_NOMEM;
        }
        ssize_t r = source_read(st->src, st->buf + st->len, st->cap - st->len);
        if (r < 0) {
            snprintf(err, errlen, "%s", source_error(st->src));
            st->failed = true;
            return source_error_is_data(st->src) ? -INGEST_E_MALFORMED
                                                 : -INGEST_E_NOINPUT;
        }
        st->eof = r == 0;
        st->len += (size_t)r;
    }
    return (int64_t)(st->len - st->pos);
}

/* Decode n bytes at p into a fresh arena. NULL when invalid (or too deep). */
static Request *stream_decode(struct otlp_proto_stream *st, const uint8_t *p,
                              size_t n)
{
    return otlp_proto_request_unpack(st->arena, p, n);
}

/* Remember the bytes of the message just accepted (k-byte prefix at buf
 * offset pos, n bytes of message). */
static void stream_set_cur(struct otlp_proto_stream *st, size_t pos, size_t k,
                           size_t n)
{
    st->cur = st->buf + pos + k;
    st->cur_len = n;
    st->cur_off = st->base + pos + k;
}

/* Locate the next length-delimited message without consuming it: its
 * prefix takes *k bytes and its body *len bytes, all buffered. Returns 1,
 * 0 at a clean end of input, or a negated status with `why` filled (no
 * file name; the caller adds it). */
static int stream_frame(struct otlp_proto_stream *st, size_t *k, size_t *len,
                        char *why, size_t whylen)
{
    uint64_t n;
    int64_t avail = stream_fill(st, 10, why, whylen);
    uint64_t off = st->base + st->pos;

    if (avail < 0)
        return (int)avail;
    if (avail == 0)
        return 0;
    int vk = get_varint(st->buf + st->pos, (size_t)avail, &n);
    if (vk <= 0) {
        snprintf(why, whylen, "byte %" PRIu64 ": %s", off,
                 vk == 0 ? "input ends inside a message length prefix"
                         : "expected a message length prefix (varint)");
        return -INGEST_E_MALFORMED;
    }
    if (n > OTLP_PROTO_MAX_MESSAGE) {
        snprintf(why, whylen,
                 "byte %" PRIu64 ": message length prefix %" PRIu64
                 " exceeds the %" PRIu64 "-byte limit",
                 off, n, OTLP_PROTO_MAX_MESSAGE);
        return -INGEST_E_MALFORMED;
    }
    if (n > 0) {
        st->empty_run = 0;
    } else if (st->empty_run++ == 0) {
        st->empty_from = off;
    } else if (st->empty_run >= OTLP_PROTO_MAX_EMPTY_RUN) {
        snprintf(why, whylen,
                 "byte %" PRIu64 ": expected a message length prefix, found "
                 "a run of %u zero bytes (as many empty messages in a row); "
                 "zero bytes are not a trace",
                 st->empty_from, st->empty_run);
        return -INGEST_E_MALFORMED;
    }
    avail = stream_fill(st, (size_t)vk + (size_t)n, why, whylen);
    if (avail < 0)
        return (int)avail;
    if ((uint64_t)avail < (uint64_t)vk + n) {
        snprintf(why, whylen,
                 "byte %" PRIu64
                 ": truncated: message length prefix says %" PRIu64
                 " bytes, the input ends after %" PRIu64,
                 off, n, (uint64_t)avail - (uint64_t)vk);
        return -INGEST_E_MALFORMED;
    }
    *k = (size_t)vk;
    *len = (size_t)n;
    return 1;
}

static int stream_next_delimited(struct otlp_proto_stream *st, Request **msg,
                                 char *err, size_t errlen)
{
    char why[256];
    size_t k, n;
    int rc = stream_frame(st, &k, &n, why, sizeof(why));

    if (rc <= 0) {
        if (rc < 0 && st->failed)
            snprintf(err, errlen, "%s", why); /* names the file already */
        else if (rc < 0)
            snprintf(err, errlen, "%s: %s", source_name(st->src), why);
        return rc;
    }
    st->msg_off = st->base + st->pos;
    stream_set_cur(st, st->pos, k, n);
    if (st->raw) {
        st->pos += k + n;
        return 1;
    }
    *msg = stream_decode(st, st->buf + st->pos + k, n);
    if (!*msg) {
        snprintf(err, errlen,
                 "%s: byte %" PRIu64 ": expected an ExportTraceServiceRequest "
                 "message of %zu bytes; it does not parse",
                 source_name(st->src), st->msg_off, n);
        return -INGEST_E_MALFORMED;
    }
    st->pos += k + n;
    return 1;
}

/* Walk the top-level fields of a plain message over buf[*pos, len): *pos
 * moves to the first field not wholly buffered (or past the end). Returns
 * 0, or -1 with *bad at a tag no message may hold (field number 0, a group
 * or an unknown wire type) or a varint over 10 bytes. */
static int plain_walk(const uint8_t *buf, size_t len, size_t *pos, size_t *bad)
{
    while (*pos < len) {
        size_t p = *pos, q;
        uint64_t tag, v;
        int k = get_varint(buf + p, len - p, &tag);

        if (k == 0)
            return 0;
        q = p + (size_t)k;
        if (k < 0 || tag >> 3 == 0 || (tag & 7) == 3 || (tag & 7) == 4 ||
            (tag & 7) > 5) {
            *bad = p;
            return -1;
        }
        if ((tag & 7) == 1 || (tag & 7) == 5) {
            q += (tag & 7) == 1 ? 8 : 4;
        } else {
            if ((k = get_varint(buf + q, len - q, &v)) == 0)
                return 0;
            if (k < 0) {
                *bad = q;
                return -1;
            }
            q += (size_t)k;
            if ((tag & 7) == 2)
                q = v > SIZE_MAX - q ? SIZE_MAX : q + (size_t)v;
        }
        *pos = q;
    }
    return 0;
}

/* Buffer the whole input for a plain reading, failing as soon as its
 * top-level fields show it is no message (a run of zero bytes after a
 * first frame that did not parse must not be buffered up to the limit).
 * Returns the bytes available or a negated status (err filled). */
static int64_t plain_fill(struct otlp_proto_stream *st, const char *why,
                          char *err, size_t errlen)
{
    size_t need = STREAM_CHUNK, walked = 0, bad;
    int64_t avail;

    for (;;) {
        avail = stream_fill(st, need, err, errlen);
        if (avail < 0)
            return avail;
        if (plain_walk(st->buf, st->len, &walked, &bad) < 0) {
            snprintf(err, errlen,
                     "%s: %s (nor does the whole input parse as one "
                     "ExportTraceServiceRequest: byte %" PRIu64
                     ": expected a field tag, found field number 0, a "
                     "group or an unknown wire type)",
                     source_name(st->src), why, st->base + (uint64_t)bad);
            return -INGEST_E_MALFORMED;
        }
        if (st->eof || (uint64_t)avail > OTLP_PROTO_MAX_MESSAGE)
            return avail;
        need = need > OTLP_PROTO_MAX_MESSAGE / 2
                   ? (size_t)OTLP_PROTO_MAX_MESSAGE + 1
                   : need * 2;
    }
}

/* The whole input as one plain message. `why` says why the delimited
 * reading failed, for the message when this fails too. Without `decode`
 * (raw reading) the bytes are handed over unchecked. */
static int stream_plain(struct otlp_proto_stream *st, Request **msg,
                        const char *why, bool decode, char *err, size_t errlen)
{
    int64_t avail = plain_fill(st, why, err, errlen);
    bool ok;

    if (avail < 0)
        return (int)avail;
    ok = (uint64_t)avail <= OTLP_PROTO_MAX_MESSAGE;
    if (ok && decode) {
        *msg = stream_decode(st, st->buf, st->len);
        ok = *msg != NULL;
    }
    if (!ok) {
        snprintf(err, errlen,
                 "%s: %s (nor does the whole input parse as one "
                 "ExportTraceServiceRequest)",
                 source_name(st->src), why);
        return -INGEST_E_MALFORMED;
    }
    st->msg_off = st->base;
    stream_set_cur(st, 0, 0, st->len);
    st->plain = true;
    snprintf(st->why, sizeof(st->why), "%s", why);
    st->pos = st->len;
    st->mode = MODE_DONE;
    return 1;
}

static int stream_accept_delimited(struct otlp_proto_stream *st, size_t k,
                                   size_t n)
{
    st->mode = MODE_DELIMITED;
    st->msg_off = 0;
    stream_set_cur(st, 0, k, n);
    st->pos = k + n;
    return 1;
}

/* First message: length-delimited when its first frame decodes cleanly
 * (no unknown top-level fields), else one plain message. A plain request
 * starts with 0x0a, which as a prefix announces a 10-byte message, so the
 * two readings rarely both parse. */
static int stream_detect(struct otlp_proto_stream *st, Request **msg, char *err,
                         size_t errlen)
{
    char why[256];
    size_t k, n;
    int rc = stream_frame(st, &k, &n, why, sizeof(why));

    if (rc == 0) {
        st->mode = MODE_DONE;
        return 0;
    }
    if (rc < 0 && st->failed) {
        snprintf(err, errlen, "%s", why); /* names the file already */
        return rc;
    }
    if (rc > 0) {
        *msg = stream_decode(st, st->buf + k, n);
        if (*msg && (*msg)->base.n_unknown_fields == 0)
            return stream_accept_delimited(st, k, n);
        if (*msg) {
            /* Parses only with unknown fields: prefer a plain reading,
             * else take the framing after all. */
            rc = stream_plain(st, msg, "", true, err, errlen);
            if (rc != -INGEST_E_MALFORMED)
                return rc;
            *msg = stream_decode(st, st->buf + k, n);
            st->mode = MODE_DETECT;
            return stream_accept_delimited(st, k, n);
        }
        snprintf(why, sizeof(why),
                 "byte 0: expected an ExportTraceServiceRequest message of "
                 "%zu bytes after its length prefix",
                 n);
    }
    return stream_plain(st, msg, why, !st->raw, err, errlen);
}

int otlp_proto_stream_next(struct otlp_proto_stream *st, Request **msg,
                           char *err, size_t errlen)
{
    *msg = NULL;
    switch (st->mode) {
    case MODE_DETECT:
        return stream_detect(st, msg, err, errlen);
    case MODE_DELIMITED:
        return stream_next_delimited(st, msg, err, errlen);
    case MODE_DONE:
        break;
    }
    return 0;
}

int otlp_proto_stream_next_raw(struct otlp_proto_stream *st,
                               const uint8_t **data, size_t *len,
                               uint64_t *offset, char *err, size_t errlen)
{
    Request *msg;
    int rc;

    st->raw = true;
    rc = otlp_proto_stream_next(st, &msg, err, errlen);
    /* Only telling the framing apart decodes; nothing needs the arena
     * after that. */
    if (st->arena->head)
        arena_free_blocks(st->arena);
    if (rc > 0) {
        *data = st->cur;
        *len = st->cur_len;
        *offset = st->cur_off;
    }
    return rc;
}

const char *otlp_proto_stream_plain_why(const struct otlp_proto_stream *st)
{
    return st->plain ? st->why : NULL;
}

/* ---- resource clock domain -------------------------------------------- */

int otlp_proto_value_text(const AnyValue *v, const char **text, size_t *len,
                          char *buf, size_t buflen)
{
    int n = -1;

    if (!v)
        return -1;
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        *text = v->string_value;
        *len = strlen(v->string_value);
        return 0;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        n = snprintf(buf, buflen, "%s", v->bool_value ? "true" : "false");
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        n = snprintf(buf, buflen, "%" PRId64, v->int_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        n = snprintf(buf, buflen, "%.17g", v->double_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        n = 0;
        for (size_t i = 0; i < v->bytes_value.len && (size_t)n + 3 <= buflen;
             i++)
            n += snprintf(buf + n, buflen - (size_t)n, "%02x",
                          v->bytes_value.data[i]);
        if (buflen)
            buf[n] = '\0';
        break;
    default:
        return -1;
    }
    if (n < 0 || buflen == 0)
        return -1;
    *text = buf;
    *len = (size_t)n < buflen ? (size_t)n : buflen - 1;
    return 0;
}

int otlp_proto_resource_domain(
    const Opentelemetry__Proto__Resource__V1__Resource *res,
    const char *user_attr, const char **name, size_t *len, char *buf,
    size_t buflen)
{
    const Opentelemetry__Proto__Common__V1__KeyValue *best = NULL;
    int best_rank = -1;

    if (!res)
        return -1;
    for (size_t i = 0; i < res->n_attributes; i++) {
        const Opentelemetry__Proto__Common__V1__KeyValue *kv =
            res->attributes[i];
        int rank = clock_domain_rank(user_attr, CLOCK_DOMAIN_OTLP_RESOURCE,
                                     kv->key, strlen(kv->key));
        const char *t;
        size_t tl;
        if (rank < 0 || (best && rank >= best_rank))
            continue;
        if (otlp_proto_value_text(kv->value, &t, &tl, buf, buflen) < 0)
            continue;
        best = kv;
        best_rank = rank;
    }
    if (!best)
        return -1;
    return otlp_proto_value_text(best->value, name, len, buf, buflen);
}
