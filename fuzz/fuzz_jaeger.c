/* libFuzzer target: the Jaeger JSON reader (ingest_jaeger.c via json_lex)
 * on arbitrary bytes. */
#define FUZZ_READER_OPS ingest_jaeger_ops
#include "fuzz_json_reader.h"
