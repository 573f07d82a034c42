// SPDX-License-Identifier: GPL-2.0

//! Moving pages of this process between NUMA nodes: `move_pages(2)` and
//! `mbind(2)` with `MPOL_MF_MOVE`, for the tests and the stress; keeping
//! NUMA balancing out of this process (`set_mempolicy(2)`).

use nix::errno::Errno;

const MPOL_BIND: i64 = 2;
const MPOL_LOCAL: i64 = 4;
const MPOL_MF_MOVE: i64 = 1 << 1;

/// `move_pages(2)` of this process's pages `addrs`: to `nodes[i]` each, or
/// with `None` where each is. The status of each: its node or -errno.
pub fn move_pages(addrs: &[u64], nodes: Option<&[i32]>) -> Result<Vec<i32>, String> {
    assert!(nodes.is_none_or(|n| n.len() == addrs.len()));
    let mut status = vec![i32::MIN; addrs.len()];
    let nodes = nodes.map_or(std::ptr::null(), <[i32]>::as_ptr);
    // SAFETY: `addrs`, `nodes` (unless null) and `status` have `addrs.len()`
    // entries; the kernel reads the first two and writes the third.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0,
            addrs.len(),
            addrs.as_ptr(),
            nodes,
            status.as_mut_ptr(),
            MPOL_MF_MOVE,
        )
    };
    Errno::result(r).map_err(|e| format!("move_pages: {e}"))?;
    Ok(status)
}

/// `mbind(MPOL_BIND, node, MPOL_MF_MOVE)` of `[start, end)`: the policy, and
/// the pages already there moved to `node`.
pub fn mbind(start: u64, end: u64, node: i32) -> Result<(), String> {
    let mask: u64 = 1 << node;
    // SAFETY: a policy for a range of our own; the kernel reads one word of
    // node mask (maxnode 64).
    let r = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            start,
            end - start,
            MPOL_BIND,
            &mask as *const u64,
            64u64,
            MPOL_MF_MOVE,
        )
    };
    Errno::result(r)
        .map(drop)
        .map_err(|e| format!("mbind to node {node}: {e}"))
}

/// Keeps NUMA balancing out of this process: with a task policy that lacks
/// `MPOL_F_NUMA_BALANCING` (`MPOL_LOCAL` here), `task_numa_work()`, which runs
/// in this thread on its way back to user space, skips every VMA
/// (`vma_policy_mof()`) and so changes no protection here. A kernel without
/// NUMA has no balancing (`ENOSYS`).
pub fn no_balancing() -> Result<(), String> {
    // SAFETY: `set_mempolicy(MPOL_LOCAL)` takes no node mask: nothing is read.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, MPOL_LOCAL, 0usize, 0u64) };
    match Errno::result(r) {
        Ok(_) | Err(Errno::ENOSYS) => Ok(()),
        Err(e) => Err(format!("set_mempolicy(MPOL_LOCAL): {e}")),
    }
}
