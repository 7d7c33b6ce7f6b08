/* Unit tests of output/json_split: documents come out verbatim when small,
 * cut between whole elements of their big array when large, and every
 * piece is a valid document holding the original elements in order. */
#include "testlib.h"

#include <jansson.h>

#include <stdint.h>

#include "ingest/source.h"
#include "output/json_split.h"

static const char *const keys[] = {"resourceSpans", "data", NULL};

struct run {
    json_t *pieces; /* array of the parsed pieces */
    char text[4096];
    int rc;
};

/* Split input with cut size max and element limit max_element (0: the
 * default). */
static void split_limited(const char *input, size_t max, size_t max_element,
                          struct run *out)
{
    char *path = testlib_write_temp_str(input);
    char err[256];
    struct source *src = source_open(path, err, sizeof(err));
    struct json_split *s = json_split_create(src, keys, max);
    struct json_piece p;
    json_error_t je;

    assert_non_null(s);
    json_split_set_max_element(s, max_element);
    out->pieces = json_array();
    out->text[0] = '\0';
    while ((out->rc = json_split_next(s, &p, err, sizeof(err))) == 1) {
        json_t *doc = json_loadb(p.text, p.len, 0, &je);
        if (!doc)
            fail_msg("piece is not JSON: %.*s (%s)", (int)p.len, p.text,
                     je.text);
        json_array_append_new(out->pieces, doc);
        strncat(out->text, p.text, p.len);
        strcat(out->text, "|");
    }
    if (out->rc < 0)
        snprintf(out->text, sizeof(out->text), "%s", err);
    json_split_destroy(s);
    source_close(src);
    unlink(path);
    free(path);
}

static void split(const char *input, size_t max, struct run *out)
{
    split_limited(input, max, 0, out);
}

static void test_small_documents_verbatim(void **state)
{
    (void)state;
    struct run r;
    const char *in = "{\"resourceSpans\": [{\"a\":1}, {\"b\":\"]}\"}]}\n"
                     "  [1, 2]\n{\"x\":{}}";

    split(in, 1 << 20, &r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.text, "{\"resourceSpans\": [{\"a\":1}, "
                                "{\"b\":\"]}\"}]}|[1, 2]|{\"x\":{}}|");
    json_decref(r.pieces);
}

static void test_large_document_cut_between_elements(void **state)
{
    (void)state;
    struct run r;
    const char *in =
        "{\"resourceSpans\":[{\"n\":1,\"s\":\"a,b]\"},{\"n\":2,\"l\":[1,[2]]},"
        "{\"n\":3},{\"n\":4}],\"extra\":true}";

    split(in, 30, &r);
    assert_int_equal(r.rc, 0);
    assert_true(json_array_size(r.pieces) >= 3);
    /* the elements, in order, across the pieces; the document's own end
     * (with "extra") closes the last piece */
    int expect = 1;
    size_t i;
    json_t *piece;
    json_array_foreach(r.pieces, i, piece)
    {
        json_t *rs = json_object_get(piece, "resourceSpans");
        assert_true(json_is_array(rs));
        for (size_t k = 0; k < json_array_size(rs); k++)
            assert_int_equal(
                json_integer_value(json_object_get(json_array_get(rs, k), "n")),
                expect++);
        assert_int_equal(json_object_get(piece, "extra") != NULL,
                         i == json_array_size(r.pieces) - 1);
    }
    assert_int_equal(expect, 5);
    json_decref(r.pieces);
}

static void test_top_level_array_and_other_keys(void **state)
{
    (void)state;
    struct run r;

    /* a top-level array is cut; an object whose big array has another key
     * is not */
    split("[{\"id\":\"1\"},{\"id\":\"2\"},{\"id\":\"3\"}] "
          "{\"other\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}",
          20, &r);
    assert_int_equal(r.rc, 0);
    size_t n = json_array_size(r.pieces);
    assert_true(n >= 3);
    json_t *last = json_array_get(r.pieces, n - 1);
    assert_int_equal(json_array_size(json_object_get(last, "other")), 17);
    size_t ids = 0;
    for (size_t i = 0; i + 1 < n; i++)
        ids += json_array_size(json_array_get(r.pieces, i));
    assert_int_equal(ids, 3);
    json_decref(r.pieces);
}

static void test_only_the_first_array_is_cut(void **state)
{
    (void)state;
    struct run r;

    /* a second member with a cut-able name (found by fuzzing) must not be
     * cut with the first one's opening */
    split("{\"data\":[{\"n\":1},{\"n\":2},{\"n\":3}],\"x\":0,"
          "\"data\":[{\"m\":1},{\"m\":2},{\"m\":3},{\"m\":4}]}",
          12, &r);
    assert_int_equal(r.rc, 0);
    assert_true(json_array_size(r.pieces) >= 3);
    json_t *last = json_array_get(r.pieces, json_array_size(r.pieces) - 1);
    /* jansson keeps the last of duplicate keys: the whole second array */
    assert_int_equal(json_array_size(json_object_get(last, "data")), 4);
    json_decref(r.pieces);
}

static void test_structural_errors(void **state)
{
    (void)state;
    struct run r;

    split("{\"data\":[1,2", 1 << 20, &r);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.text, "end of input"));
    json_decref(r.pieces);
    split("\n  x", 1 << 20, &r);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.text, "2:3:"));
    json_decref(r.pieces);
    split("{}]", 1 << 20, &r);
    assert_int_equal(r.rc, -1);
    json_decref(r.pieces);
}

/* An element larger than the element limit is refused with -4 and the
 * position where it starts, before the rest of it is read: memory stays
 * bounded whatever the size of one string. */
static void test_element_limit(void **state)
{
    size_t n = 4 << 20;
    char *in = malloc(n + 64), err[256];
    (void)state;

    strcpy(in, "{\"resourceSpans\":[{\"a\":1},\n  {\"name\":\"");
    size_t len = strlen(in);
    memset(in + len, 'x', n);
    strcpy(in + len + n, "\"}]}");
    char *path = testlib_write_temp_str(in);
    struct source *src = source_open(path, err, sizeof(err));
    struct json_split *s = json_split_create(src, keys, 64);
    struct json_piece p;
    uint64_t off, lines, line_start;
    int r;

    json_split_set_max_element(s, 1000);
    while ((r = json_split_next(s, &p, err, sizeof(err))) == 1)
        ;
    assert_int_equal(r, -4);
    assert_non_null(strstr(err, "2:3: this element is larger than 1000"));
    source_position(src, &off, &lines, &line_start);
    assert_true(off < 1000 + 2 * 65536); /* not the 4 MiB */
    json_split_destroy(s);
    source_close(src);
    unlink(path);
    free(path);

    /* A document it cannot cut counts whole, from its first byte; cut
     * elements under the limit are fine however many there are. */
    struct run r2;
    split_limited("[1]\n {\"other\":[\"0123456789\",\"0123456789\"]}", 16, 30,
                  &r2);
    assert_int_equal(r2.rc, -4);
    assert_non_null(strstr(r2.text, "2:2: this document is larger than 30"));
    json_decref(r2.pieces);
    split_limited("{\"data\":[\"0123456789\",\"0123456789\",\"0123456789\"]}",
                  16, 30, &r2);
    assert_int_equal(r2.rc, 0);
    assert_true(json_array_size(r2.pieces) >= 2);
    json_decref(r2.pieces);
    free(in);
}

/* A byte order mark and white space before the first document are skipped
 * as the readers skip them; positions count from the start of the file. */
static void test_bom_and_leading_space(void **state)
{
    struct run r;
    (void)state;

    split("\xef\xbb\xbf\n\n  {\"a\":1}", 1 << 20, &r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.text, "{\"a\":1}|");
    json_decref(r.pieces);
    split("\n\n  x", 1 << 20, &r);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.text, "3:3:"));
    json_decref(r.pieces);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_documents_verbatim),
        cmocka_unit_test(test_large_document_cut_between_elements),
        cmocka_unit_test(test_top_level_array_and_other_keys),
        cmocka_unit_test(test_only_the_first_array_is_cut),
        cmocka_unit_test(test_structural_errors),
        cmocka_unit_test(test_element_limit),
        cmocka_unit_test(test_bom_and_leading_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
