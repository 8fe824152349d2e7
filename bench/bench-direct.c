/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* bench-direct: the baseline of the streaming benchmark. Reads an Ollama chat stream straight from
 * the server with libcurl (no daemon, no bus) and parses every NDJSON line with jansson, as a client
 * would, keeping the answer text.
 *
 *   bench-direct --url http://127.0.0.1:PORT [--runs N] [--model M] [--prompt P] [--expect FILE]
 *
 * One JSON line per run: CLOCK_MONOTONIC times of the request, the first and the last piece and the
 * final object; pieces; whether the text equals FILE byte for byte; this process's CPU time
 * (user + system) during the run and its RSS after it (the memory floor of a libcurl client). */

#include <curl/curl.h>
#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <sys/resource.h>

#include "json-util.h"
#include "log.h"

typedef struct Stream {
        GString *line; /* bytes of the current, unfinished line */
        GString *text;
        uint64_t t_first, t_last, t_done;
        unsigned pieces, lines;
        bool done, bad;
} Stream;

static struct {
        unsigned runs;
        const char *url, *model, *prompt, *expect;
} arg = {1, NULL, "llama3.2:latest", "Tell me about energy.", NULL};

static void stream_line(Stream *s, const char *data, size_t size, uint64_t t) {
        json_error_t error;
        json_t *o, *content;

        o = json_loadb(data, size, 0, &error);
        if (!o) {
                s->bad = true;
                return;
        }
        s->lines++;
        content = json_object_get(json_object_get(o, "message"), "content");
        if (json_is_string(content) && json_string_length(content) > 0) {
                g_string_append_len(s->text, json_string_value(content),
                                    (gssize) json_string_length(content));
                s->pieces++;
                if (s->t_first == 0)
                        s->t_first = t;
                s->t_last = t;
        }
        if (json_is_true(json_object_get(o, "done"))) {
                s->done = true;
                s->t_done = t;
        }
        json_decref(o);
}

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        Stream *s = userdata;
        size_t len = size * n, start = 0;

        for (size_t i = 0; i < len; i++) {
                if (data[i] != '\n')
                        continue;
                if (s->line->len > 0) {
                        g_string_append_len(s->line, data + start, (gssize) (i - start));
                        stream_line(s, s->line->str, s->line->len, t);
                        g_string_truncate(s->line, 0);
                } else if (i > start)
                        stream_line(s, data + start, i - start, t);
                start = i + 1;
        }
        g_string_append_len(s->line, data + start, (gssize) (len - start));
        return len;
}

static char *request_body(void) {
        _cleanup_json_ json_t *o = json_pack("{s:s, s:[{s:s, s:s}], s:b}", "model", arg.model, "messages",
                                             "role", "user", "content", arg.prompt, "stream", 1);

        return o ? json_dumps(o, JSON_COMPACT) : NULL;
}

static double cpu_ms(void) {
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return NAN;
        return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static long rss_kb(void) {
        char line[256];
        long kb = -1;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

static int run_once(CURL *curl, const char *expect, size_t expect_size, unsigned i) {
        g_autoptr(GString) line = g_string_new(NULL), text = g_string_new(NULL);
        Stream s = {.line = line, .text = text};
        uint64_t t_start;
        double cpu0;
        CURLcode cc;
        long status = 0;

        (void) curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        (void) curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
        cpu0 = cpu_ms();
        t_start = now_ns(CLOCK_MONOTONIC);
        cc = curl_easy_perform(curl);
        if (cc != CURLE_OK)
                return log_error_errno(-EIO, "Request to %s failed: %s", arg.url, curl_easy_strerror(cc));
        (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || !s.done || s.bad)
                return log_error_errno(-EBADMSG, "Bad stream from %s (HTTP %ld, done=%d, malformed=%d).",
                                       arg.url, status, s.done, s.bad);
        printf("{\"run\": %u, \"t_start\": %" PRIu64 ", \"t_first\": %" PRIu64 ", \"t_last\": %" PRIu64
               ", \"t_done\": %" PRIu64
               ", \"pieces\": %u, \"bytes\": %zu, \"cpu_ms\": %.3f, \"rss_kb\": %ld",
               i, t_start, s.t_first, s.t_last, s.t_done, s.pieces, text->len, cpu_ms() - cpu0, rss_kb());
        if (expect)
                printf(", \"text_ok\": %s",
                       text->len == expect_size && memcmp(text->str, expect, expect_size) == 0 ? "true"
                                                                                               : "false");
        printf("}\n");
        fflush(stdout);
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                {"url", required_argument, NULL, 'u'},    {"runs", required_argument, NULL, 'n'},
                {"model", required_argument, NULL, 'm'},  {"prompt", required_argument, NULL, 'p'},
                {"expect", required_argument, NULL, 'e'}, {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "u:n:m:p:e:", options, NULL)) >= 0)
                switch (c) {
                case 'u': arg.url = optarg; break;
                case 'n': arg.runs = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'm': arg.model = optarg; break;
                case 'p': arg.prompt = optarg; break;
                case 'e': arg.expect = optarg; break;
                default: return -EINVAL;
                }
        if (!arg.url || arg.runs == 0)
                return log_error_errno(-EINVAL, "--url is required and --runs must be positive.");
        return 0;
}

int main(int argc, char *argv[]) {
        g_autoptr(GError) error = NULL;
        g_autofree char *expect = NULL, *url = NULL;
        _cleanup_free_ char *body = NULL;
        struct curl_slist *headers = NULL;
        gsize expect_size = 0;
        CURL *curl;
        int r;

        log_set_program_name("bench-direct");
        r = parse_argv(argc, argv);
        if (r < 0)
                return EXIT_FAILURE;
        if (arg.expect && !g_file_get_contents(arg.expect, &expect, &expect_size, &error)) {
                log_error("Failed to read %s: %s", arg.expect, error->message);
                return EXIT_FAILURE;
        }
        body = request_body();
        url = g_strdup_printf("%s/api/chat", arg.url);
        if (!body || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return EXIT_FAILURE;
        curl = curl_easy_init();
        headers = curl_slist_append(headers, "Content-Type: application/json");
        if (!curl || !headers)
                return EXIT_FAILURE;
        (void) curl_easy_setopt(curl, CURLOPT_URL, url);
        (void) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        (void) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        (void) curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
        for (unsigned i = 0; i < arg.runs && r >= 0; i++)
                r = run_once(curl, expect, expect_size, i);
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        curl_global_cleanup();
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
