/* libFuzzer target: the Zipkin v2 JSON reader (ingest_zipkin.c via json_lex)
 * on arbitrary bytes. */
#define FUZZ_READER_OPS ingest_zipkin_ops
#include "fuzz_json_reader.h"
