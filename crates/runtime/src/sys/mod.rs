//! The seam through which rootfs setup reaches the kernel: [`Sys`] has one method per privileged
//! syscall that mount setup needs. [`RealSys`] calls the kernel; tests pass a recording fake.
