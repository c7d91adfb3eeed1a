// SPDX-License-Identifier: GPL-2.0
// A minimal live patch for the end-to-end test: replaces cmdline_proc_show
// so that /proc/cmdline reads "this has been live patched". Built again with
// KCFLAGS=-DLP_E2E_VERSION=N (N >= 2) it reads "... (vN)", so the test can
// tell which version the kernel runs. MODULE_VERSION carries N (1 by
// default) in the signed .modinfo: the agent trusts only that version.
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#ifndef LP_E2E_VERSION
#define LP_E2E_VERSION 1
#endif

static int lp_e2e_cmdline_proc_show(struct seq_file *m, void *v)
{
#if LP_E2E_VERSION >= 2
	seq_printf(m, "this has been live patched (v%d)\n", LP_E2E_VERSION);
#else
	seq_puts(m, "this has been live patched\n");
#endif
	return 0;
}

static struct klp_func lp_e2e_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = lp_e2e_cmdline_proc_show },
	{}
};

static struct klp_object lp_e2e_objs[] = {
	{ .funcs = lp_e2e_funcs },  /* NULL name: vmlinux */
	{}
};

static struct klp_patch lp_e2e_patch = {
	.mod = THIS_MODULE,
	.objs = lp_e2e_objs,
	.replace = true,
};

static int __init lp_e2e_init(void)
{
	return klp_enable_patch(&lp_e2e_patch);
}

static void __exit lp_e2e_exit(void)
{
}

module_init(lp_e2e_init);
module_exit(lp_e2e_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("livepatch-agent end-to-end test patch");
MODULE_INFO(livepatch, "Y");
MODULE_VERSION(__stringify(LP_E2E_VERSION));
