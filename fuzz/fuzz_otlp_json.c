/* libFuzzer target: the OTLP JSON reader (ingest_otlp_json.c via json_lex)
 * on arbitrary bytes. */
#define FUZZ_READER_OPS ingest_otlp_json_ops
#include "fuzz_json_reader.h"
