# The exec stub: the last program a container's init runs before the user's
# process (core/linux/exec_stub.py, docs/security.md class 1).  x86_64, no libc,
# position-independent; the init appends a parameter block at `params`.
#
# Between create and start the container's pid 1 is this program, run from a
# sealed memfd: /proc/1/exe is never the host's interpreter, and a
# "#!/proc/self/exe" entrypoint runs this stub again, not Python.  It makes only
# calls the init made after its seccomp filter before -- openat, write, close,
# execve, exit_group -- and prctl(PR_SET_DUMPABLE), which exec_stub.usable
# checks the filter allows.
#
# params (all offsets relative to `params`):
#   +0  u32 channel fd      +4  u32 exec.fifo O_PATH fd
#   +8  u32 length of READY +12 u32 highest errno in the message table
#   +16 u64 READY line      +24 u64 "/proc/self/fd/FIFO\0"
#   +32 u64 executable\0    +40 u64 table: (u32 offset, u32 length) per errno
        .intel_syntax noprefix
        .text
        .globl _start
_start:
        lea     r12, [rip + params]
        # non-dumpable again (execve made us dumpable): a process put in our pid
        # namespace before start cannot open /proc/1/fd (the exec fifo) or mem
        mov     edi, 4                          # PR_SET_DUMPABLE
        xor     esi, esi
        xor     edx, edx
        xor     r10d, r10d
        xor     r8d, r8d
        mov     eax, 157                        # prctl
        syscall
        # name the process as the Python init did (execve named it after the fd)
        mov     edi, -100                       # AT_FDCWD
        lea     rsi, [rip + comm_path]
        mov     edx, 1                          # O_WRONLY
        xor     r10d, r10d
        mov     eax, 257                        # openat
        syscall
        test    eax, eax
        js      1f
        mov     ebx, eax
        mov     edi, eax
        lea     rsi, [rip + comm_name]
        mov     edx, OFFSET comm_len
        mov     eax, 1                          # write
        syscall
        mov     edi, ebx
        mov     eax, 3                          # close
        syscall
1:      # READY to the runtime, then close the channel.  Run again as the
        # interpreter of a "#!/proc/self/exe" script, the channel is closed:
        # EBADF, and this exits 1.
        mov     edi, [r12]
        mov     rsi, [r12 + 16]
        add     rsi, r12
        mov     edx, [r12 + 8]
        mov     eax, 1                          # write
        syscall
        cmp     eax, [r12 + 8]
        jne     quit
        mov     edi, [r12]
        mov     eax, 3                          # close
        syscall
        # wait for `start`: opening the fifo for writing blocks until it reads
        mov     edi, -100
        mov     rsi, [r12 + 24]
        add     rsi, r12
        mov     edx, 0x80001                    # O_WRONLY | O_CLOEXEC
        xor     r10d, r10d
        mov     eax, 257                        # openat
        syscall
        test    eax, eax
        js      quit
        mov     edi, eax
        lea     rsi, [rip + zero]
        mov     edx, 1
        mov     eax, 1                          # write
        syscall
        cmp     eax, 1
        jne     quit
        mov     edi, [r12 + 4]
        mov     eax, 3                          # close the fifo's O_PATH fd
        syscall
        # execve(executable, our argv, our envp)
        mov     rdi, [r12 + 32]
        add     rdi, r12
        lea     rsi, [rsp + 8]
        mov     rax, [rsp]                      # argc
        lea     rdx, [rsp + rax*8 + 16]
        mov     eax, 59                         # execve
        syscall
        # it failed: "exec PATH: REASON" on stderr, exit 1 (as runc)
        neg     eax
        cmp     eax, [r12 + 12]
        jbe     2f
        xor     eax, eax
2:      mov     rcx, [r12 + 40]
        add     rcx, r12
        mov     esi, [rcx + rax*8]
        mov     edx, [rcx + rax*8 + 4]
        add     rsi, r12
        mov     edi, 2
        mov     eax, 1                          # write
        syscall
quit:   mov     edi, 1
        mov     eax, 231                        # exit_group
        syscall
        hlt
comm_path:
        .asciz  "/proc/self/comm"
comm_name:
        .ascii  "pycr:[init]"
        .set    comm_len, . - comm_name
zero:   .ascii  "0"
        .balign 8, 0
params:
