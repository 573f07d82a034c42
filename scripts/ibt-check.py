#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Shows, from the loaded module's own code, that every call into a resolved
kernel function is direct (Documentation/internals.rst, "IBT").

  ibt-check.py dump OUT KO      in the VM, module loaded, as root: the module's
                                sections read from /proc/kcore, /proc/kallsyms,
                                the first bytes of each resolved function
  ibt-check.py analyse OUT KO   on the host (objdump): the table of call sites,
                                trampolines, indirect branches and pointers;
                                exit 1 if a call to a resolved function is not
                                a patched direct call

KO is the pagemap_scan.ko that was loaded. Only the Python standard library
and binutils' objdump (host) are used.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

MOD = "pagemap_scan"
ENDBR64 = bytes.fromhex("f30f1efa")
SEALED = bytes.fromhex("0f1f40d6")  # poison_endbr()
THUNK = re.compile(r"(indirect_thunk|indirect_call_thunk|indirect_jump_thunk|its_thunk|retpoline)")


# --- ELF (the .ko, and /proc/kcore's program headers) -----------------------

class Elf:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.raw = f.read()
        r = self.raw
        assert r[:4] == b"\x7fELF" and r[4] == 2, f"{path}: not ELF64"
        shoff, = struct.unpack_from("<Q", r, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", r, 0x3A)
        self.sh = []
        for i in range(shnum):
            name, typ, flags, addr, off, size, link, info, align, entsize = struct.unpack_from(
                "<IIQQQQIIQQ", r, shoff + i * shentsize)
            self.sh.append(dict(name=name, type=typ, flags=flags, off=off, size=size,
                                link=link, info=info, entsize=entsize))
        strtab = self.sh[shstrndx]
        for s in self.sh:
            s["name"] = self._str(strtab, s["name"])
        self.syms = []
        for s in self.sh:
            if s["type"] == 2:  # SHT_SYMTAB
                st = self.sh[s["link"]]
                for j in range(s["size"] // 24):
                    nm, info, other, shndx, value, size = struct.unpack_from(
                        "<IBBHQQ", r, s["off"] + j * 24)
                    name = self._str(st, nm)
                    if info & 0xF == 3:  # STT_SECTION
                        name = self.sh[shndx]["name"]
                    self.syms.append(dict(name=name, type=info & 0xF, shndx=shndx,
                                          value=value, size=size))

    def _str(self, sec, off):
        start = sec["off"] + off
        return self.raw[start:self.raw.index(b"\0", start)].decode()

    def section(self, name):
        return next((i for i, s in enumerate(self.sh) if s["name"] == name), None)

    def data(self, idx):
        s = self.sh[idx]
        return self.raw[s["off"]:s["off"] + s["size"]] if s["type"] != 8 else bytes(s["size"])

    def relocs(self, target_idx):
        """(offset, symbol dict, addend) of the RELA section applying to target_idx."""
        out = []
        for s in self.sh:
            if s["type"] == 4 and s["info"] == target_idx:  # SHT_RELA
                for j in range(s["size"] // 24):
                    off, info, add = struct.unpack_from("<QQq", self.raw, s["off"] + j * 24)
                    out.append((off, self.syms[info >> 32], add))
        return out

    def symbol(self, name):
        return next((s for s in self.syms if s["name"] == name), None)

    def func_at(self, shndx, off):
        """The function symbol of section shndx containing off (not the __pfx_ padding)."""
        best = None
        for s in self.syms:
            if s["shndx"] == shndx and s["type"] == 2 and s["value"] <= off < s["value"] + max(s["size"], 1):
                if best is None or not s["name"].startswith("__pfx_"):
                    best = s
        return best


def resolved_names(ko):
    """The functions of pms_ksym_table (name, is_function from the table), plus
    kallsyms_lookup_name, found through the table's pms_set_<name> pointers."""
    t = ko.symbol("pms_ksym_table")
    assert t, "no pms_ksym_table in the module"
    data = ko.data(t["shndx"])
    entries = {}
    for off, sym, add in ko.relocs(t["shndx"]):
        rel = off - t["value"]
        if 0 <= rel < t["size"] and rel % 24 == 8:
            target = sym
            if sym["type"] == 3:  # a section symbol: the function at that offset
                target = ko.func_at(sym["shndx"], add)
            name = target["name"]
            assert name.startswith("pms_set_"), f"table entry {rel // 24}: {name}"
            entries[rel // 24] = (name[len("pms_set_"):], bool(data[t["value"] + rel + 8]))
    table = [entries[i] for i in sorted(entries)]
    assert len(table) == t["size"] // 24, "unreadable pms_ksym_table"
    return ["kallsyms_lookup_name"] + [n for n, is_func in table if is_func], [n for n, f in table if not f]


# --- the guest side ------------------------------------------------------------

class Kcore:
    def __init__(self):
        self.f = open("/proc/kcore", "rb")
        head = self.f.read(64)
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        self.f.seek(phoff)
        ph = self.f.read(phentsize * phnum)
        self.loads = []
        for i in range(phnum):
            typ, flags, off, vaddr, paddr, filesz, memsz, align = struct.unpack_from(
                "<IIQQQQQQ", ph, i * phentsize)
            if typ == 1:
                self.loads.append((vaddr, memsz, off))

    def read(self, addr, size):
        for vaddr, memsz, off in self.loads:
            if vaddr <= addr and addr + size <= vaddr + memsz:
                self.f.seek(off + addr - vaddr)
                return self.f.read(size)
        raise LookupError(f"{addr:#x}+{size:#x} is in no /proc/kcore segment")


def dump(out, ko_path):
    os.makedirs(os.path.join(out, "sec"), exist_ok=True)
    ko = Elf(ko_path)
    names, _ = resolved_names(ko)
    info = []
    with open("/proc/sys/kernel/kptr_restrict") as f:
        info.append(f"kptr_restrict was {f.read().strip()}, set to 0")
    with open("/proc/sys/kernel/kptr_restrict", "w") as f:
        f.write("0\n")
    with open("/proc/kallsyms") as f:
        kallsyms = f.read()
    with open(os.path.join(out, "kallsyms.txt"), "w") as f:
        f.write(kallsyms)
    kernel = {}
    for line in kallsyms.splitlines():
        p = line.split()
        if len(p) == 3:
            kernel.setdefault(p[2], []).append(int(p[0], 16))
    flags = open("/proc/cpuinfo").read().split("\nflags", 1)[1].split("\n", 1)[0].split()
    info.append(f"uname -r: {os.uname().release}")
    info.append(f"cpu ibt flag: {'yes' if 'ibt' in flags else 'no'}")
    info.append(f"cmdline: {open('/proc/cmdline').read().strip()}")
    vul = "/sys/devices/system/cpu/vulnerabilities"
    for v in ("spectre_v2", "retbleed", "indirect_target_selection"):
        if os.path.exists(os.path.join(vul, v)):
            info.append(f"{v}: {open(os.path.join(vul, v)).read().strip()}")
    kc = Kcore()
    secdir = f"/sys/module/{MOD}/sections"
    with open(os.path.join(out, "sections.txt"), "w") as f:
        for name in sorted(os.listdir(secdir)):
            addr = int(open(os.path.join(secdir, name)).read(), 16)
            idx = ko.section(name)
            # Init sections are freed after the module's init: nothing to read.
            if idx is None or not ko.sh[idx]["flags"] & 2 or name.startswith(".init"):
                continue
            size = ko.sh[idx]["size"]
            assert addr, f"{secdir}/{name} reads 0 (kptr_restrict?)"
            with open(os.path.join(out, "sec", name.lstrip(".") + ".bin"), "wb") as b:
                b.write(kc.read(addr, size) if size else b"")
            f.write(f"{name} {addr:#x} {size:#x}\n")
    # The entry (and the 16 bytes of padding before it) of each resolved function.
    with open(os.path.join(out, "heads.txt"), "w") as f:
        for n in names:
            for a in kernel.get(n, []):
                f.write(f"{n} {a:#x} {kc.read(a - 16, 32).hex()}\n")
    with open(os.path.join(out, "info.txt"), "w") as f:
        f.write("\n".join(info) + "\n")


# --- the host side ------------------------------------------------------------

class Loaded:
    """The module as dumped in the guest: its sections' bytes at their addresses."""

    def __init__(self, out, ko):
        self.sec = {}
        for line in open(os.path.join(out, "sections.txt")):
            name, addr, size = line.split()
            data = open(os.path.join(out, "sec", name.lstrip(".") + ".bin"), "rb").read()
            assert len(data) == int(size, 16), f"short dump of {name}"
            self.sec[name] = (int(addr, 16), data)
        self.ko = ko

    def addr(self, shndx, off):
        name = self.ko.sh[shndx]["name"]
        return self.sec[name][0] + off if name in self.sec else None

    def read(self, addr, size):
        for base, data in self.sec.values():
            if base <= addr and addr + size <= base + len(data):
                return data[addr - base:addr - base + size]
        return None


class Symbols:
    """/proc/kallsyms of the guest: address -> name, for kernel and module."""

    def __init__(self, path):
        self.by_name, self.mod, rows = {}, {}, []
        for line in open(path):
            p = line.split()
            a = int(p[0], 16)
            if len(p) == 3:
                self.by_name.setdefault(p[2], []).append(a)
            elif p[3] == f"[{MOD}]":
                self.mod.setdefault(p[2], []).append(a)
            if p[1] in "tTwW" and a:
                rows.append((a, p[2] + (f" {p[3]}" if len(p) > 3 and p[3] != f"[{MOD}]" else "")))
        rows.sort()
        self.addrs = [r[0] for r in rows]
        self.names = [r[1] for r in rows]

    def at(self, addr):
        import bisect
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return "?"
        off = addr - self.addrs[i]
        name = self.names[i]
        # A __pfx_ symbol is the padding before the function it names.
        return name if off == 0 else f"{name}+{off:#x}"

    def known(self, addr):
        """In the core kernel's text (where the resolved functions are)."""
        t0, t1 = self.by_name.get("_stext", [0])[0], self.by_name.get("_etext", [0])[0]
        return t0 <= addr < t1

    def one(self, name):
        a = self.mod.get(name) or []
        return a[0] if len(a) == 1 else None


def objdump(base, data):
    """[(addr, length, bytes, text)] of data disassembled at base."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        p = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", "-w",
                            f"--adjust-vma={base:#x}", f.name],
                           capture_output=True, check=True)
    out = []
    for line in p.stdout.decode().splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\t([0-9a-f ]+)\t(.*)$", line)
        if m:
            b = bytes.fromhex(m.group(2).replace(" ", ""))
            out.append((int(m.group(1), 16), len(b), b, " ".join(m.group(3).split())))
    return out


def rel32(addr, b):
    return (addr + 5 + struct.unpack_from("<i", b, 1)[0]) & (2**64 - 1)


def analyse(out, ko_path):
    ko = Elf(ko_path)
    mem = Loaded(out, ko)
    ks = Symbols(os.path.join(out, "kallsyms.txt"))
    names, data_syms = resolved_names(ko)
    fails, notes = [], []
    print("== environment (guest)")
    for line in open(os.path.join(out, "info.txt")):
        print("   " + line.rstrip())

    # The resolved functions: kallsyms' address, and what the module's key holds.
    func = {}   # name -> address in /proc/kallsyms
    key = {}    # name -> (key address, func held by the key)
    tramp = {}  # name -> trampoline address
    for n in names:
        addrs = ks.by_name.get(n, [])
        if len(addrs) != 1:
            fails.append(f"{n}: {len(addrs)} addresses in /proc/kallsyms")
            continue
        func[n] = addrs[0]
        k = ko.symbol(f"__SCK__pms_{n}")
        t = ko.symbol(f"__SCT__pms_{n}")
        if not k or not t:
            fails.append(f"{n}: no static call __SCK__/__SCT__pms_{n} in the module")
            continue
        ka = mem.addr(k["shndx"], k["value"])
        key[n] = (ka, struct.unpack("<Q", mem.read(ka, 8))[0])
        tramp[n] = mem.addr(t["shndx"], t["value"])
        if ks.one(f"__SCT__pms_{n}") not in (None, tramp[n]):
            fails.append(f"{n}: trampoline at {tramp[n]:#x} by the .ko, not where kallsyms says")
    by_addr = {a: n for n, a in func.items()}

    print(f"\n== resolved functions ({len(names)}: pms_ksym_table's functions and kallsyms_lookup_name;"
          f" data, not called: {', '.join(data_syms) or 'none'})")
    print(f"   {'function':40} {'/proc/kallsyms':18} {'key->func':8} {'ENDBR in this boot'}")
    heads = {}
    for line in open(os.path.join(out, "heads.txt")):
        n, a, h = line.split()
        heads[n] = bytes.fromhex(h)[16:20]
    for n in names:
        if n not in key:
            continue
        ok = key[n][1] == func[n]
        if not ok:
            fails.append(f"{n}: the key holds {key[n][1]:#x}, /proc/kallsyms says {func[n]:#x}")
        h = heads.get(n, b"")
        endbr = "endbr64" if h == ENDBR64 else "sealed (nop)" if h == SEALED else f"none ({h.hex()})"
        print(f"   {n:40} {func[n]:#018x} {'same' if ok else 'DIFFERS':8} {endbr}")

    # (a) every static call site, and every trampoline.
    sites = {}  # site address -> (name or None, tail)
    sidx = ko.section(".static_call_sites")
    rel = sorted(ko.relocs(sidx), key=lambda r: r[0]) if sidx is not None else []
    pairs = {}
    for off, sym, add in rel:
        pairs.setdefault(off // 8, {})[off % 8] = (sym, add)
    for i in sorted(pairs):
        (ssym, sadd), (ksym, kadd) = pairs[i][0], pairs[i][4]
        addr = mem.addr(ssym["shndx"], ssym["value"] + sadd)
        kname = ksym["name"]
        n = kname[len("__SCK__pms_"):] if kname.startswith("__SCK__pms_") else None
        if addr is None:
            notes.append(f"static call site in {ko.sh[ssym['shndx']]['name']} (freed init text) of {kname}")
            continue
        sites[addr] = (n, kname, kadd & 1, ko.func_at(ssym["shndx"], ssym["value"] + sadd))
    print("\n== (a) static call sites of the resolved functions, as patched in the loaded module")
    print(f"   {'site':18} {'in function':38} {'instruction':12} {'target':18} target symbol")
    count = {n: 0 for n in names}
    other = []
    for addr in sorted(sites):
        n, kname, tail, fn = sites[addr]
        b = mem.read(addr, 5)
        if n is None:
            other.append((addr, kname, b))
            continue
        count[n] += 1
        want = "jmp" if tail else "call"
        op = {0xE8: "call", 0xE9: "jmp"}.get(b[0])
        tgt = rel32(addr, b) if op else None
        insn = f"{op} rel32" if op else f"[{b.hex()}]"
        good = op == want and tgt == func.get(n)
        if not good:
            why = "unpatched (NOP)" if b == bytes.fromhex("0f1f440000") else \
                  "still goes through the trampoline" if tgt == tramp.get(n) else "wrong"
            fails.append(f"site {addr:#x} of {n}: {insn} -> {tgt and ks.at(tgt)}: {why}")
        print(f"   {addr:#018x} {fn['name'] if fn else '?':38} {insn:12} "
              f"{tgt or 0:#018x} {ks.at(tgt) if tgt else '-'}{'' if good else '   <-- FAIL'}")
    for n in names:
        if n in func and count[n] == 0:
            notes.append(f"{n}: no call site in the module's text (resolved, never called)")
    print("\n== (a) trampolines")
    for n in names:
        if n not in tramp:
            continue
        b = mem.read(tramp[n], 8)
        ok = b[0] == 0xE9 and rel32(tramp[n], b) == func[n]
        if not ok:
            fails.append(f"trampoline __SCT__pms_{n} at {tramp[n]:#x}: {b.hex()}, not jmp {n}")
        print(f"   {tramp[n]:#018x} __SCT__pms_{n:36} {'jmp rel32' if b[0] == 0xE9 else b.hex():12} "
              f"{rel32(tramp[n], b) if b[0] == 0xE9 else 0:#018x} "
              f"{ks.at(rel32(tramp[n], b)) if b[0] == 0xE9 else '-'}{'' if ok else '   <-- FAIL'}")
    if other:
        print("\n   the kernel's own static calls used by the module (not resolved functions):")
        for addr, kname, b in other:
            op = {0xE8: "call", 0xE9: "jmp"}.get(b[0])
            if b == bytes.fromhex("2e2e2e31c0"):
                op = None
                b = "xor %eax,%eax (inline 'return 0')"
            else:
                b = b.hex()
            print(f"   {addr:#018x} {kname:38} {op + ' rel32' if op else b:12} "
                  f"{ks.at(rel32(addr, mem.read(addr, 5))) if op else ''}")

    # (b) every branch of the module's loaded text.
    print("\n== (b) every branch in the module's text that can reach a resolved function or is indirect")
    tramp_set = {a: n for n, a in tramp.items()}
    indirect, direct_other = [], 0
    code, scanned = {}, []
    for name, (base, data) in mem.sec.items():
        idx = ko.section(name)
        # Alternatives' replacements are copied into .text at load: what runs
        # is what .text holds now, and their rel32s are relative to the copy.
        if not ko.sh[idx]["flags"] & 4 or not data or name == ".altinstr_replacement":  # SHF_EXECINSTR
            continue
        scanned.append(f"{name} ({len(data)} bytes)")
        for a, ln, b, text in objdump(base, data):
            code[a] = (ln, text)
            m = re.match(r"^(?:bnd |notrack )?(call|jmp|j[a-z]+)\s+(\*?)(\S*)", text)
            if not m:
                continue
            mnem, star, opnd = m.groups()
            fn = ks.at(a)
            if star:
                indirect.append((a, fn, text))
                continue
            if not re.match(r"^(0x)?[0-9a-f]+$", opnd):
                continue
            tgt = int(opnd, 16)
            tname = ks.at(tgt)
            if tgt in by_addr:
                if a not in sites and a not in tramp_set:
                    fails.append(f"{a:#x} in {fn}: {text}: direct, but not a static call site")
                continue
            if tgt in tramp_set:
                fails.append(f"{a:#x} in {fn}: {text}: a call through the trampoline of {tramp_set[tgt]}")
                continue
            if THUNK.search(tname):
                indirect.append((a, fn, f"{mnem} {tname} (thunk: an indirect branch)"))
            elif not ks.known(tgt) and mem.read(tgt, 1) is None:
                indirect.append((a, fn, f"{mnem} {tgt:#x} (outside the kernel's and the module's text: an ITS thunk?)"))
            else:
                direct_other += 1
    # objtool's lists of instructions: each must start an instruction of the
    # linear disassembly, or the disassembly lost its way somewhere.
    listed = {}
    for lname in (".retpoline_sites", ".return_sites", ".call_sites", ".static_call_sites"):
        li = ko.section(lname)
        for off, sym, add in (ko.relocs(li) if li is not None else []):
            if lname == ".static_call_sites" and off % 8:
                continue
            a = mem.addr(sym["shndx"], sym["value"] + add)
            if a is not None and f"{ko.sh[sym['shndx']]['name']} (" in " ".join(scanned):
                listed.setdefault(lname, set()).add(a)
    for lname, addrs in listed.items():
        lost = sorted(a for a in addrs if a not in code)
        if lost:
            fails.append(f"{len(lost)} of {len(addrs)} {lname} entries are not instruction starts in the "
                         f"disassembly (first {lost[0]:#x}): it cannot be trusted")
    print(f"   disassembled: {', '.join(scanned)}; not: .altinstr_replacement (copied into .text at load)")
    print(f"   in step with objtool's lists: " + ", ".join(
        f"{lname} {sum(a in code for a in addrs)}/{len(addrs)}" for lname, addrs in sorted(listed.items())))
    print(f"   direct calls and jumps to a resolved function outside the sites above: "
          f"{'none' if not any('not a static call site' in f for f in fails) else 'SEE FAILURES'}")
    print(f"   calls through a trampoline: {'none' if not any('through the trampoline' in f for f in fails) else 'SEE FAILURES'}")
    print(f"   other direct branches (to module code, exported functions, return thunks): {direct_other}")
    print(f"   indirect branches (the only way an unseen call could be made): {len(indirect)}")
    retp = listed.get(".retpoline_sites", set())
    for a, fn, text in indirect:
        print(f"     {a:#018x} {fn:50} {text}{'   (objtool: retpoline site)' if a in retp else ''}")
    unlisted = [a for a, _, _ in indirect if a not in retp]
    missing = sorted(retp - {a for a, _, _ in indirect})
    print(f"   of them at objtool's .retpoline_sites (every indirect branch the compilers emitted): "
          f"{len(indirect) - len(unlisted)} of {len(retp)}; elsewhere: {len(unlisted)}")
    if missing:
        notes.append(f"retpoline sites not seen as indirect branches: "
                     f"{', '.join(f'{a:#x} ({code[a][1]})' for a in missing if a in code)}")

    # Where the module holds a resolved function's address: only in its key.
    print("\n== (b) pointers to resolved functions or their trampolines in the module's memory")
    allowed = {ka: n for n, (ka, _) in key.items()}
    targets = {a: f"{n}" for n, a in func.items()}
    targets.update({v: f"{n}+{v - func[n]:#x} (held by its key)" for n, (_, v) in key.items() if v != func[n]})
    allowed.update({ka: f"{n}+{v - func[n]:#x} (held by its key)" for n, (ka, v) in key.items() if v != func[n]})
    targets.update({a: f"__SCT__pms_{n}" for n, a in tramp.items()})
    for name, (base, data) in sorted(mem.sec.items()):
        for off in range(0, len(data) - 7):
            v, = struct.unpack_from("<Q", data, off)
            if v in targets:
                a = base + off
                ok = allowed.get(a) == targets[v]
                print(f"   {a:#018x} {name + '+' + hex(off):30} = {targets[v]:40} "
                      f"{'the static call key' if ok else '<-- FAIL: a copy that could be called indirectly'}")
                if not ok:
                    fails.append(f"{a:#x} ({name}+{off:#x}) holds the address of {targets[v]}")
    # The other direction, and the targets of the module's own indirect call:
    # function pointers in its data lead to its own functions, which keep ENDBR.
    print("\n== (b) function pointers in the module's data (what its indirect call, and the kernel's calls back, reach)")
    fptrs = {}
    for name in (".data", ".rodata", ".bss", ".gnu.linkonce.this_module", ".exit.data"):
        if name not in mem.sec:
            continue
        base, data = mem.sec[name]
        for off in range(0, len(data) - 7, 8):
            v, = struct.unpack_from("<Q", data, off)
            # A __pfx_ symbol is padding, never called: such a value is a base
            # address (struct module's mem[MOD_TEXT].base), not a function.
            if v in code and ks.at(v) in ks.mod and not ks.at(v).startswith("__pfx_"):
                fptrs.setdefault(ks.at(v), []).append(f"{name}+{off:#x}")
    for fn, where in sorted(fptrs.items()):
        a = ks.mod[fn][0]
        h = mem.read(a, 4)
        e = "endbr64" if h == ENDBR64 else "NO ENDBR"
        print(f"   {fn:50} {e:8} from {', '.join(where[:3])}{' ...' if len(where) > 3 else ''}")
        if h != ENDBR64:
            fails.append(f"{fn} is reached through a pointer in the module's data but has no ENDBR")

    # Code that names a key or trampoline other than a call site: only to pass
    # its address to __static_call_update() (pms_set_*), never to load it.
    print("\n== (b) code references to the keys and trampolines other than call sites (from the .ko's relocations)")
    for i, s in enumerate(ko.sh):
        if not s["flags"] & 4 or s["name"] not in mem.sec:
            continue
        for off, sym, add in ko.relocs(i):
            if not re.match(r"^__SC[KT]__pms_", sym["name"]):
                continue
            a = mem.sec[s["name"]][0] + off
            insn = next(((ia, t) for ia, (ln, t) in code.items() if ia <= a < ia + ln), None)
            if insn and insn[0] in sites:
                continue
            fn = ks.at(a).split("+")[0]
            text = insn[1] if insn else "?"
            ok = fn.startswith("pms_set_") and ("$" in text or text.startswith("lea"))
            print(f"   {a:#018x} {fn:50} {text:40} {sym['name']}{'' if ok else '   <-- FAIL'}")
            if not ok:
                fails.append(f"{a:#x} in {fn}: {text}: a reference to {sym['name']} that is not an address passed on")

    print()
    for n in notes:
        print(f"note: {n}")
    if fails:
        for f in fails:
            print(f"FAIL: {f}")
        print(f"ibt-check: FAILED ({len(fails)})")
        return 1
    print(f"ibt-check: ok: {sum(count.values())} static call sites of {len(func)} resolved functions and "
          f"{len(tramp)} trampolines are direct branches to the functions' addresses; no other reference")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("dump", "analyse"):
        sys.exit(__doc__)
    if sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3])
    else:
        sys.exit(analyse(sys.argv[2], sys.argv[3]))
