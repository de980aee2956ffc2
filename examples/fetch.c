/* fetch.c - a small curl: fetch URLs concurrently, print them in order.
 *
 *     fetch [-i] [-k] [--cacert FILE] [-X METHOD] [-H 'Name: value']... [-d DATA]
 *           [--timeout S] [--connect-timeout S] [--read-timeout S] URL...
 *
 *     -i                 print the status line and the headers before the body
 *     -k, --insecure     https: do not check the server's certificate or name
 *     --cacert FILE      https: trust the CA certificates in FILE (PEM), not the system's
 *     -X METHOD          the method (default GET, or POST with -d)
 *     -H 'Name: value'   a request header (repeatable)
 *     -d DATA            the request body
 *     --timeout S        the whole request, waiting for a connection included
 *     --connect-timeout S, --read-timeout S (each read)   seconds, may be fractional
 *
 * Every URL is requested at once through one client; the bodies are printed
 * in argument order. Exit status: 0 when every request got a response
 * (whatever its status), 1 when any failed (one line on stderr each: the URL
 * and why), 2 for a usage error.
 *
 * The timeouts are aiohttp's ClientTimeout (total, connect, sock_read), set
 * once on the client.
 */
#define ASYNC_IMPLEMENTATION
#define ASYNC_HTTP_IMPLEMENTATION
#include "../async.h"
#include "../async_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    int include;
    const char *method, *data;
    const char **headers, **urls; /* NULL-terminated */
    async_http_client_config config;
} options;

static int usage(void) {
    fprintf(stderr, "usage: fetch [-i] [-k] [--cacert FILE] [-X METHOD] [-H 'Name: value']... [-d DATA]\n"
                    "             [--timeout SECONDS] [--connect-timeout SECONDS] [--read-timeout SECONDS] URL...\n");
    return 2;
}

/* Seconds, fractional, as nanoseconds; 0 if not a positive number. */
static async_time seconds(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 1e9) return 0;
    return v * 1e9 < 1 ? 1 : (async_time)(v * 1e9);
}

/* Options and URLs may come in any order, as with curl. 1 if they make sense. */
static int parse_options(int argc, char **argv, options *o) {
    int i, nheaders = 0, nurls = 0;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        async_time *timeout;
        if (strcmp(arg, "-i") == 0) {
            o->include = 1;
            continue;
        }
        if (strcmp(arg, "-k") == 0 || strcmp(arg, "--insecure") == 0) {
            o->config.insecure = 1;
            continue;
        }
        if (arg[0] != '-') {
            o->urls[nurls++] = arg;
            continue;
        }
        if (i + 1 == argc) return 0; /* every other option takes a value */
        timeout = strcmp(arg, "--timeout") == 0           ? &o->config.timeout_total
                  : strcmp(arg, "--connect-timeout") == 0 ? &o->config.timeout_connect
                  : strcmp(arg, "--read-timeout") == 0    ? &o->config.timeout_sock_read
                                                          : NULL;
        if (timeout) {
            if ((*timeout = seconds(argv[++i])) == 0) return 0;
        } else if (strcmp(arg, "-X") == 0) {
            o->method = argv[++i];
        } else if (strcmp(arg, "-H") == 0) {
            o->headers[nheaders++] = argv[++i];
        } else if (strcmp(arg, "-d") == 0) {
            o->data = argv[++i];
        } else if (strcmp(arg, "--cacert") == 0) {
            o->config.ca_file = argv[++i];
        } else {
            return 0;
        }
    }
    if (!o->method) o->method = o->data ? "POST" : "GET";
    return nurls > 0;
}

/* The status line and the headers, as received. */
static void print_head(const async_http_response *r) {
    size_t i;
    printf("HTTP/1.%d %d%s%.*s\n", r->version_minor, r->status, r->reason_len ? " " : "", (int)r->reason_len,
           r->reason);
    for (i = 0; i < r->header_count; i++)
        printf("%.*s: %.*s\n", (int)r->headers[i].name_len, r->headers[i].name, (int)r->headers[i].value_len,
               r->headers[i].value);
    printf("\n");
}

int main(int argc, char **argv) {
    async_loop loop;
    async_io io;
    async_http_client client;
    async_http_request *requests;
    async_future **futs;
    async_link *links;
    async_gather_op gather;
    options o;
    int i, n, failed = 0;

    memset(&o, 0, sizeof o);
    o.headers = calloc((size_t)argc, sizeof *o.headers);
    o.urls = calloc((size_t)argc, sizeof *o.urls);
    if (!o.headers || !o.urls || !parse_options(argc, argv, &o)) {
        free(o.headers);
        free(o.urls);
        return usage();
    }
    for (n = 0; o.urls[n]; n++) {}

    async_loop_init(&loop, NULL);
    if (async_io_init(&io, &loop, NULL) != 0) {
        fprintf(stderr, "fetch: %s\n", async_io_error(&io));
        return 1;
    }
    async_http_client_init(&client, &io, &o.config);
    requests = calloc((size_t)n, sizeof *requests);
    futs = calloc((size_t)n, sizeof *futs);
    links = calloc((size_t)n, sizeof *links);
    if (!requests || !futs || !links) {
        fprintf(stderr, "fetch: out of memory\n");
        return 1;
    }

    /* A request's fields are set before it starts; then it runs as a task. */
    for (i = 0; i < n; i++) {
        requests[i].headers = o.headers;
        if (o.data) {
            requests[i].body = o.data;
            requests[i].body_len = strlen(o.data);
        }
        futs[i] = async_http_fetch(&client, &requests[i], o.method, o.urls[i]);
    }
    /* return_exceptions=1: a failure does not end the gather early. */
    async_run(&loop, async_gather(&gather, futs, links, (size_t)n, 1));

    for (i = 0; i < n; i++) {
        async_http_request *r = &requests[i];
        if (async_error(futs[i])) {
            fprintf(stderr, "fetch: %s: %s\n", o.urls[i], async_http_request_error(r));
            failed = 1;
            continue;
        }
        if (o.include) print_head(&r->response);
        fwrite(r->response.body, 1, r->response.body_len, stdout);
        async_http_request_release(r);
    }

    async_http_client_close(&client);
    async_io_exit(&io);
    free(requests);
    free(futs);
    free(links);
    free(o.headers);
    free(o.urls);
    return failed;
}
