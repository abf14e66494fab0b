#include "rt/task.h"

#include <stddef.h>
#include <string.h>

#include "base/assert.h"
#include "rt/worker.h"

tw_rng *tw_task_rng(tw_task *t)
{
    TW_ASSERT(t->worker != NULL);
    return tw_worker_rng(t->worker);
}

void tw_task_out_send(tw_task_output *out, tw_addr source, tw_msg_mode mode, uint64_t target,
                      uint32_t type, const void *data, uint32_t len)
{
    TW_ASSERT(len <= TW_MSG_DATA_MAX);
    /* Only the header and the first len bytes of data are written: nothing
     * reads past len, and this is the hottest copy of the bus. */
    out->kind = TW_TOUT_SEND;
    tw_msg *m = &out->u.msg;
    memset(m, 0, offsetof(tw_msg, data));
    m->mode = (uint8_t)mode;
    m->source = source;
    m->target = target;
    m->type = type;
    m->len = len;
    if (len) {
        memcpy(m->data, data, len);
    }
}

void tw_task_out_timer(tw_task_output *out, tw_ns deadline)
{
    memset(out, 0, sizeof(*out));
    out->kind = TW_TOUT_TIMER;
    out->u.deadline = deadline;
}

bool tw_task_outq_push(tw_task_outq *q, const tw_task_output *out)
{
    if (q->len == TW_TASK_OUTQ_MAX) {
        q->overflows++;
        return false;
    }
    q->items[(q->head + q->len) % TW_TASK_OUTQ_MAX] = *out;
    q->len++;
    return true;
}

bool tw_task_outq_pop(tw_task_outq *q, tw_task_output *out)
{
    if (q->len == 0) {
        return false;
    }
    *out = q->items[q->head];
    q->head = (uint8_t)((q->head + 1) % TW_TASK_OUTQ_MAX);
    q->len--;
    return true;
}
