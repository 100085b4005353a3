/* A mixed CoreMark-like kernel, N iterations (argv[1], default 2000), each doing:
 *  - list: build a linked list of 64 items, merge-sort it by value, reverse it, find items;
 *  - state machine: scan a generated text of numbers and classify each token
 *    (integer, decimal, exponent, invalid);
 *  - matrix: 16 x 16 integer multiply-accumulate and bit extraction.
 * A CRC-16 folds every result. Self-check: the sorted list is ordered and keeps its
 * length and value sum; the token classes add up to the token count and a token's class
 * agrees with a second, table-free classifier; the matrix product passes a Freivalds check.
 * Prints "mixed <crc>"; exits 1 on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_SIZE 64
#define MAT 16

struct item {
    struct item *next;
    int32_t value;
    uint16_t index;
};

static uint16_t crc16_byte(uint16_t crc, uint8_t data)
{
    crc ^= data;
    for (int i = 0; i < 8; i++)
        crc = crc & 1 ? (crc >> 1) ^ 0xA001 : crc >> 1;
    return crc;
}

static uint16_t crc16_word(uint16_t crc, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        crc = crc16_byte(crc, (uint8_t)(v >> (8 * i)));
    return crc;
}

static struct item *merge_sort(struct item *head)
{
    if (!head || !head->next)
        return head;
    struct item *slow = head, *fast = head->next;
    while (fast && fast->next) {
        slow = slow->next;
        fast = fast->next->next;
    }
    struct item *right = slow->next;
    slow->next = 0;
    struct item *left = merge_sort(head);
    right = merge_sort(right);
    struct item dummy, *tail = &dummy;
    while (left && right) {
        struct item **smaller = left->value <= right->value ? &left : &right;
        tail->next = *smaller;
        tail = *smaller;
        *smaller = (*smaller)->next;
    }
    tail->next = left ? left : right;
    return dummy.next;
}

static struct item *reverse(struct item *head)
{
    struct item *prev = 0;
    while (head) {
        struct item *next = head->next;
        head->next = prev;
        prev = head;
        head = next;
    }
    return prev;
}

static int list_work(struct item *pool, uint32_t seed, uint16_t *crc)
{
    struct item *head = 0;
    int64_t sum_before = 0, sum_after = 0;
    for (int i = 0; i < LIST_SIZE; i++) {
        seed = seed * 1103515245u + 12345u;
        pool[i].value = (int32_t)(seed >> 16) - 32768;
        pool[i].index = (uint16_t)i;
        pool[i].next = head;
        head = &pool[i];
        sum_before += pool[i].value;
    }
    head = merge_sort(head);
    int count = 0, bad = 0;
    for (struct item *p = head; p; p = p->next) {
        count++;
        sum_after += p->value;
        if (p->next && p->value > p->next->value)
            bad = 1;
    }
    head = reverse(head);
    for (int k = 0; k < 8; k++) {
        int32_t wanted = pool[(seed >> k) % LIST_SIZE].value;
        int position = 0;
        struct item *p = head;
        while (p && p->value != wanted) {
            p = p->next;
            position++;
        }
        *crc = crc16_word(*crc, p ? (uint32_t)position : 0xFFFFu);
    }
    *crc = crc16_word(*crc, (uint32_t)head->value);
    return bad || count != LIST_SIZE || sum_after != sum_before;
}

enum token_class { INTEGER, DECIMAL, EXPONENT, INVALID, CLASSES };

/* Classify one token with a state machine. */
static enum token_class classify(const char *s, size_t n)
{
    enum { START, SIGN, INT, POINT, FRACTION, EXP, EXP_SIGN, EXP_DIGITS, ERROR } state = START;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int digit = c >= '0' && c <= '9';
        switch (state) {
        case START: state = digit ? INT : (c == '+' || c == '-') ? SIGN : c == '.' ? POINT : ERROR; break;
        case SIGN: state = digit ? INT : c == '.' ? POINT : ERROR; break;
        case INT: state = digit ? INT : c == '.' ? POINT : (c == 'e' || c == 'E') ? EXP : ERROR; break;
        case POINT: state = digit ? FRACTION : ERROR; break;
        case FRACTION: state = digit ? FRACTION : (c == 'e' || c == 'E') ? EXP : ERROR; break;
        case EXP: state = digit ? EXP_DIGITS : (c == '+' || c == '-') ? EXP_SIGN : ERROR; break;
        case EXP_SIGN:
        case EXP_DIGITS: state = digit ? EXP_DIGITS : ERROR; break;
        case ERROR: break;
        }
    }
    return state == INT ? INTEGER : state == FRACTION ? DECIMAL : state == EXP_DIGITS ? EXPONENT : INVALID;
}

/* The same grammar, checked by counting characters instead of with states. */
static enum token_class classify_by_shape(const char *s, size_t n)
{
    size_t i = 0, int_digits = 0, frac_digits = 0, exp_digits = 0;
    int point = 0, exponent = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, int_digits++;
    if (i < n && s[i] == '.') {
        point = 1;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, frac_digits++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E') && (int_digits || frac_digits)) {
        exponent = 1;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
    }
    if (i != n || (point && !frac_digits) || (!point && !int_digits) || (exponent && !exp_digits))
        return INVALID;
    return exponent ? EXPONENT : point ? DECIMAL : INTEGER;
}

static int state_work(uint32_t seed, uint16_t *crc)
{
    static const char alphabet[] = "0123456789012345678901234567.+-eEx";
    char text[256];
    for (size_t i = 0; i < sizeof text - 1; i++) {
        seed = seed * 1664525u + 1013904223u;
        text[i] = (seed >> 24) % 7 == 0 ? ',' : alphabet[(seed >> 16) % (sizeof alphabet - 1)];
    }
    text[sizeof text - 1] = ',';
    unsigned counts[CLASSES] = {0}, tokens = 0;
    int bad = 0;
    size_t start = 0;
    for (size_t i = 0; i < sizeof text; i++)
        if (text[i] == ',') {
            if (i > start) {
                enum token_class c = classify(text + start, i - start);
                bad |= c != classify_by_shape(text + start, i - start);
                counts[c]++;
                tokens++;
            }
            start = i + 1;
        }
    unsigned total = 0;
    for (int c = 0; c < CLASSES; c++) {
        total += counts[c];
        *crc = crc16_word(*crc, counts[c]);
    }
    return bad || total != tokens;
}

static int matrix_work(uint32_t seed, uint16_t *crc)
{
    int32_t a[MAT][MAT], b[MAT][MAT], c[MAT][MAT];
    for (int i = 0; i < MAT; i++)
        for (int j = 0; j < MAT; j++) {
            seed = seed * 22695477u + 1u;
            a[i][j] = (int32_t)(seed >> 20) - 2048;
            b[i][j] = (int32_t)((seed >> 8) & 0xFFF) - 2048;
        }
    for (int i = 0; i < MAT; i++)
        for (int j = 0; j < MAT; j++) {
            int32_t s = 0;
            for (int k = 0; k < MAT; k++)
                s += a[i][k] * b[k][j];
            c[i][j] = s;
        }
    int64_t x[MAT], bx[MAT];
    for (int j = 0; j < MAT; j++)
        x[j] = (seed >> j) & 7;
    for (int k = 0; k < MAT; k++) {
        bx[k] = 0;
        for (int j = 0; j < MAT; j++)
            bx[k] += (int64_t)b[k][j] * x[j];
    }
    int bad = 0;
    uint32_t bits = 0;
    for (int i = 0; i < MAT; i++) {
        int64_t cx = 0, abx = 0;
        for (int j = 0; j < MAT; j++) {
            cx += (int64_t)c[i][j] * x[j];
            abx += (int64_t)a[i][j] * bx[j];
            bits += (uint32_t)(c[i][j] >> 3) & 0x7F;
        }
        bad |= cx != abx;
    }
    *crc = crc16_word(*crc, bits);
    return bad;
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 2000;
    struct item pool[LIST_SIZE];
    uint16_t crc = 0;
    int bad = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t seed = i * 2654435761u + 1;
        bad |= list_work(pool, seed, &crc);
        bad |= state_work(seed, &crc);
        bad |= matrix_work(seed, &crc);
    }
    if (bad)
        fprintf(stderr, "mixed: self-check failed\n");
    printf("mixed %04x\n", crc);
    return bad;
}
