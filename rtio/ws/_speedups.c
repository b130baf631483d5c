/* rtio.ws._speedups: the optional C accelerator of rtio.ws.frames.apply_mask.
 *
 * Same signature and result as the pure-Python reference (frames._apply_mask_py), which
 * stays the specification: tests/ws/test_frames.py runs both. Built by setuptools when a C
 * compiler is there (optional = true in pyproject.toml); without it rtio uses the reference.
 *
 * RFC 6455 5.3: "Octet i of the transformed data ("transformed-octet-i") is the XOR of
 * octet i of the original data ("original-octet-i") with octet at index i modulo 4 of the
 * masking key ("masking-key-octet-j")". Eight bytes at a time: the 64-bit key is the 4-byte
 * key twice, so it lines up with the data at every multiple of 8 whatever the byte order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, mask;
    PyObject *out = NULL;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "apply_mask(data, mask) takes 2 arguments");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "the mask must be 4 bytes");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out == NULL)
        goto done;
    {
        const unsigned char *src = (const unsigned char *)data.buf;
        const unsigned char *key = (const unsigned char *)mask.buf;
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
        Py_ssize_t n = data.len, i = 0;
        uint64_t key64;
        memcpy(&key64, key, 4);
        memcpy((unsigned char *)&key64 + 4, key, 4);
        if (n >= 65536) {
            Py_BEGIN_ALLOW_THREADS
            for (; i + 8 <= n; i += 8) {
                uint64_t word;
                memcpy(&word, src + i, 8);
                word ^= key64;
                memcpy(dst + i, &word, 8);
            }
            Py_END_ALLOW_THREADS
        } else {
            for (; i + 8 <= n; i += 8) {
                uint64_t word;
                memcpy(&word, src + i, 8);
                word ^= key64;
                memcpy(dst + i, &word, 8);
            }
        }
        for (; i < n; i++)
            dst[i] = src[i] ^ key[i & 3];
    }
done:
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    return out;
}

static PyMethodDef methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, mask) -> bytes: XOR data with the 4-byte mask repeated."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rtio.ws._speedups", "C accelerator of rtio.ws.frames", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
