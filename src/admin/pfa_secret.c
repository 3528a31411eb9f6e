/* secret-key generate: the AES-256-GCM key of PermafrostSecretKeyFile. */
#define _POSIX_C_SOURCE 200809L

#include "pfa.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define SECRET_BYTES 32

int pfa_cmd_secret_key_generate(pfa_ctx *ctx, int argc, char **argv)
{
    static const char cmd[] = "secret-key generate";
    unsigned char secret[SECRET_BYTES];
    const char *path = NULL, *val;
    size_t off = 0;
    pfa_parser p;
    int opt, fd;

    pfa_parser_init(&p, ctx, argc, argv, cmd, NULL);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        if (opt == PFA_ARG_HELP) {
            pfa_help(cmd);
            return PFA_EXIT_OK;
        }
        if (opt != PFA_ARG_POSITIONAL) {
            return PFA_EXIT_USAGE;
        }
        if (path) {
            return pfa_usage(cmd, "unexpected argument '%s'", val);
        }
        path = val;
    }
    if (!path || !path[0]) {
        return pfa_usage(cmd, "missing FILE");
    }

    if (RAND_bytes(secret, sizeof(secret)) != 1) {
        return pfa_fail("the random number generator failed");
    }
    /* O_EXCL: never replace a key that encrypts existing secrets; it also
     * refuses to follow a symlink planted at path. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        OPENSSL_cleanse(secret, sizeof(secret));
        if (err == EEXIST) {
            return pfa_fail("%s already exists; refusing to overwrite it", path);
        }
        return pfa_fail("cannot create %s: %s", path, strerror(err));
    }
    /* The umask may only remove bits; make the mode exact anyway. */
    if (fchmod(fd, 0600) != 0) {
        goto fail;
    }
    while (off < sizeof(secret)) {
        ssize_t n = write(fd, secret + off, sizeof(secret) - off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto fail;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0) {
        goto fail;
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    if (close(fd) != 0) {
        int err = errno;
        unlink(path);
        return pfa_fail("cannot write %s: %s", path, strerror(err));
    }

    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "bytes", json_integer(SECRET_BYTES));
        json_object_set_new(o, "mode", json_string("0600"));
        return pfa_print_json(o);
    }
    printf("wrote a %d-byte secret key to %s (mode 0600)\n", SECRET_BYTES, path);
    return PFA_EXIT_OK;

fail:
    {
        int err = errno;
        OPENSSL_cleanse(secret, sizeof(secret));
        close(fd);
        unlink(path);
        return pfa_fail("cannot write %s: %s", path, strerror(err));
    }
}
