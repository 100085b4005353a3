"""The primary ATA channel (0x1F0-0x1F7, 0x3F6; IRQ 14) with one PIO disk, the master, on a raw image.

Commands: READ SECTORS (0x20/0x21), WRITE SECTORS (0x30/0x31), IDENTIFY
DEVICE (0xEC), CACHE FLUSH (0xE7), READ VERIFY (0x40/0x41), SET FEATURES
(0xEF), INITIALIZE DEVICE PARAMETERS (0x91), EXECUTE DEVICE DIAGNOSTIC (0x90);
anything else, or a range past the end of the image, is aborted (ERR, error
register ABRT). Addresses are 28-bit LBA (or CHS with the IDENTIFY geometry);
a sector count of 0 means 256. Data moves through the 16-bit data port (a
32-bit access moves two words); the device completes each command at once,
so BSY is never seen except during a software reset. INTRQ (IRQ 14) is
asserted at each DRQ of a read, after each written sector and at command
end, unless device control nIEN is set; reading status clears it.
Each completed written sector goes to the image file at once (os.pwrite), so
no way of ending the run loses it; close() also closes the file. A trailing
partial sector of the image is not addressable.
Without an image the controller is there but empty: every register reads 0
and commands are ignored, as QEMU's IDE with no drive (a guest's probe sees
status 0, "no device"). The slave position is always empty the same way.
"""
import os

from dbt.runtime.devices.bus import Device

BASE, CONTROL = 0x1F0, 0x3F6
DATA, ERROR_FEATURES, COUNT, LBA_LO, LBA_MID, LBA_HI, DEVICE, STATUS_COMMAND = range(8)
SECTOR = 512
LBA28_MAX = 0x0FFFFFFF

BSY, DRDY, DF, DSC, DRQ, CORR, IDX, ERR = 0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
ABRT = 0x04                          # error register: command aborted
DEV_SLAVE, DEV_LBA = 0x10, 0x40
CTL_NIEN, CTL_SRST = 0x02, 0x04
IDLE = DRDY | DSC

CMD_READ, CMD_READ_NR = 0x20, 0x21
CMD_WRITE, CMD_WRITE_NR = 0x30, 0x31
CMD_VERIFY, CMD_VERIFY_NR = 0x40, 0x41
CMD_DIAGNOSTIC, CMD_INIT_PARAMS = 0x90, 0x91
CMD_FLUSH, CMD_IDENTIFY, CMD_SET_FEATURES = 0xE7, 0xEC, 0xEF

MODEL = "DBT HARDDISK"
SERIAL = "DBT00001"
FIRMWARE = "0.1"
HEADS, SECTORS_PER_TRACK, MAX_CYLINDERS = 16, 63, 16383


class DriveError(ValueError):
    """The image cannot serve as a disk (one line, for the command line)."""


def ata_string(text: str, nbytes: int) -> bytes:
    """An IDENTIFY string: space padded, the first character of each word in its high byte."""
    raw = text.encode("ascii").ljust(nbytes, b" ")[:nbytes]
    return bytes(raw[i ^ 1] for i in range(nbytes))


def geometry(sectors: int) -> tuple[int, int, int]:
    """CHS geometry (cylinders, heads, sectors per track) for a disk of `sectors`: 16 heads of
    63 sectors as QEMU guesses, fewer for a disk smaller than one such cylinder."""
    spt = max(1, min(SECTORS_PER_TRACK, sectors))
    heads = max(1, min(HEADS, sectors // spt))
    cylinders = max(1, min(sectors // (heads * spt), MAX_CYLINDERS))
    return cylinders, heads, spt


def identify_data(sectors: int) -> bytes:
    """The 256 words of IDENTIFY DEVICE for a PIO-only LBA28 disk of `sectors` sectors."""
    words = [0] * 256
    cyls, heads, spt = geometry(sectors)
    lba28 = min(sectors, LBA28_MAX)
    chs_capacity = cyls * heads * spt
    words[0] = 0x0040                        # fixed, non-removable ATA device
    words[1], words[3], words[6] = cyls, heads, spt
    words[47] = 0x8000                       # READ/WRITE MULTIPLE: not supported
    words[49] = 0x0200                       # LBA supported (no DMA)
    words[50] = 0x4000
    words[51] = 0x0200                       # PIO timing mode 2 (obsolete field)
    words[53] = 0x0003                       # words 54-58 and 64-70 are valid
    words[54], words[55], words[56] = cyls, heads, spt
    words[57], words[58] = chs_capacity & 0xFFFF, chs_capacity >> 16
    words[60], words[61] = lba28 & 0xFFFF, lba28 >> 16
    words[64] = 0x0003                       # PIO modes 3 and 4
    words[65] = words[66] = words[67] = words[68] = 120
    words[80] = 0x00F0                       # ATA/ATAPI-4 to -7
    words[82] = 0x4000
    words[83] = 0x5000                       # FLUSH CACHE supported
    words[84] = 0x4000
    words[85] = 0x4000
    words[86] = 0x1000                       # FLUSH CACHE enabled
    words[87] = 0x4000
    data = bytearray(b"".join(w.to_bytes(2, "little") for w in words))
    data[20:40] = ata_string(SERIAL, 20)     # words 10-19
    data[46:54] = ata_string(FIRMWARE, 8)    # words 23-26
    data[54:94] = ata_string(MODEL, 40)      # words 27-46
    data[510] = 0xA5                         # word 255: signature, then the checksum
    data[511] = -sum(data[:511]) & 0xFF      # that makes all 512 bytes sum to 0
    return bytes(data)


class ATADisk(Device):
    name = "ata"
    ports = ((BASE, BASE + 7), (CONTROL, CONTROL))

    def __init__(self, image: str | None):
        self.path = image
        self.fd = None
        self.sectors = 0
        if image is not None:
            try:
                self.fd = os.open(image, os.O_RDWR)
                self.sectors = os.fstat(self.fd).st_size // SECTOR
            except OSError as e:
                if self.fd is not None:
                    os.close(self.fd)
                    self.fd = None
                raise DriveError(f"cannot use {image} as a disk image: {e.strerror}") from None
        self.clock = lambda: 0
        self.raise_irq = self.lower_irq = lambda: None
        self.irq_level = False
        self.control = 0
        self.reset()

    @property
    def present(self) -> bool:
        return self.fd is not None

    # -- state -----------------------------------------------------------------
    def reset(self) -> None:
        self.features = 0
        self.status = IDLE
        self.error = 0x01                    # diagnostic code: no error
        self._set_signature()
        self.transfer = None                 # "read", "write" or "identify" while DRQ data moves
        self.buffer = bytearray()
        self.pos = 0                         # byte position in buffer
        self.remaining = 0                   # sectors left in the command, this one included
        self.lba = 0                         # sector of the current data block
        self.intrq = False
        self._update_irq()

    def _set_signature(self) -> None:
        self.count, self.lba_lo, self.lba_mid, self.lba_hi = 1, 1, 0, 0
        self.device = 0xA0

    def _update_irq(self) -> None:
        level = self.intrq and not self.control & CTL_NIEN
        if level != self.irq_level:
            self.irq_level = level
            (self.raise_irq if level else self.lower_irq)()

    def _interrupt(self) -> None:
        self.intrq = True
        self._update_irq()

    def _selected(self) -> bool:
        """Is the addressed device our disk (the master, with an image)?"""
        return self.present and not self.device & DEV_SLAVE

    # -- addressing ------------------------------------------------------------
    def _address(self) -> int:
        if self.device & DEV_LBA:
            return (self.device & 0x0F) << 24 | self.lba_hi << 16 | self.lba_mid << 8 | self.lba_lo
        cyls, heads, spt = geometry(self.sectors)
        cylinder, head, sector = self.lba_hi << 8 | self.lba_mid, self.device & 0x0F, self.lba_lo
        if sector == 0 or sector > spt or head >= heads:
            return -1
        return (cylinder * heads + head) * spt + sector - 1

    def _set_address(self, lba: int) -> None:
        if self.device & DEV_LBA:
            self.lba_lo, self.lba_mid, self.lba_hi = lba & 0xFF, (lba >> 8) & 0xFF, (lba >> 16) & 0xFF
            self.device = (self.device & 0xF0) | ((lba >> 24) & 0x0F)
            return
        _, heads, spt = geometry(self.sectors)
        cylinder, rest = divmod(lba, heads * spt)
        head, sector = divmod(rest, spt)
        self.lba_lo, self.lba_mid, self.lba_hi = sector + 1, cylinder & 0xFF, (cylinder >> 8) & 0xFF
        self.device = (self.device & 0xF0) | head

    def _range(self) -> tuple[int, int] | None:
        """(first sector, sector count) of the command, None if it does not fit the disk."""
        lba, count = self._address(), self.count or 256
        if lba < 0 or lba + count > self.sectors:
            return None
        return lba, count

    # -- commands --------------------------------------------------------------
    def _end(self, status: int, error: int, interrupt: bool = True) -> None:
        self.status, self.error = status, error
        self.transfer, self.buffer, self.pos = None, bytearray(), 0
        if interrupt:
            self._interrupt()

    def _abort(self) -> None:
        self._end(IDLE | ERR, ABRT)

    def _command(self, command: int) -> None:
        if command in (CMD_READ, CMD_READ_NR, CMD_WRITE, CMD_WRITE_NR, CMD_VERIFY, CMD_VERIFY_NR):
            span = self._range()
            if span is None:
                self._abort()
                return
            self.lba, self.remaining = span
            if command in (CMD_VERIFY, CMD_VERIFY_NR):
                self._set_address(self.lba + self.remaining)
                self.count = 0
                self._end(IDLE, 0)
            elif command in (CMD_READ, CMD_READ_NR):
                self.transfer = "read"
                self._read_block()
            else:
                self.transfer = "write"
                self.buffer, self.pos = bytearray(SECTOR), 0
                self.status, self.error = IDLE | DRQ, 0   # PIO out: the first block without INTRQ
        elif command == CMD_IDENTIFY:
            self.transfer, self.remaining = "identify", 1
            self.buffer, self.pos = bytearray(identify_data(self.sectors)), 0
            self.status, self.error = IDLE | DRQ, 0
            self._interrupt()
        elif command == CMD_FLUSH:
            os.fdatasync(self.fd)
            self._end(IDLE, 0)
        elif command in (CMD_SET_FEATURES, CMD_INIT_PARAMS):
            self._end(IDLE, 0)
        elif command == CMD_DIAGNOSTIC:
            self._set_signature()
            self._end(IDLE, 0x01)                      # diagnostic code: device 0 passed
        else:
            self._abort()

    def _read_block(self) -> None:
        data = os.pread(self.fd, SECTOR, self.lba * SECTOR)
        self.buffer, self.pos = bytearray(data.ljust(SECTOR, b"\0")), 0
        self.status, self.error = IDLE | DRQ, 0
        self._interrupt()

    def _block_done(self) -> None:
        """The guest moved the last word of the current 512-byte block."""
        if self.transfer == "identify":
            self._end(IDLE, 0, interrupt=False)
            return
        if self.transfer == "write":
            os.pwrite(self.fd, bytes(self.buffer), self.lba * SECTOR)
        self.lba += 1
        self.remaining -= 1
        self._set_address(self.lba)                    # as QEMU: the next sector, one fewer to go
        self.count = (self.count - 1) & 0xFF
        if self.remaining == 0:
            self._end(IDLE, 0, interrupt=self.transfer == "write")
        elif self.transfer == "write":
            self.buffer, self.pos = bytearray(SECTOR), 0
            self.status = IDLE | DRQ
            self._interrupt()
        else:
            self._read_block()

    # -- data port -------------------------------------------------------------
    def _data_read(self, size: int) -> int:
        if size == 1 or self.transfer not in ("read", "identify") or not self.status & DRQ:
            return (1 << (8 * size)) - 1 if size == 1 else 0
        value = 0
        for shift in range(0, 8 * size, 16):
            if self.transfer is None:
                break                                  # a dword read past the end of the data
            value |= int.from_bytes(self.buffer[self.pos:self.pos + 2], "little") << shift
            self.pos += 2
            if self.pos == SECTOR:
                self._block_done()
        return value

    def _data_write(self, size: int, value: int) -> None:
        if size == 1 or self.transfer != "write" or not self.status & DRQ:
            return
        for shift in range(0, 8 * size, 16):
            if self.transfer is None:
                break
            self.buffer[self.pos:self.pos + 2] = ((value >> shift) & 0xFFFF).to_bytes(2, "little")
            self.pos += 2
            if self.pos == SECTOR:
                self._block_done()

    # -- ports -----------------------------------------------------------------
    def read(self, port: int, size: int) -> int:
        if not self.present:
            return 0
        if port == CONTROL:
            return self.status if self._selected() else 0      # alternate status: INTRQ stays
        reg = port - BASE
        if reg == DATA:
            return self._data_read(size) if self._selected() else 0
        if reg == STATUS_COMMAND:
            self.intrq = False
            self._update_irq()
            return self.status if self._selected() else 0
        if reg == ERROR_FEATURES:
            return self.error if self._selected() else 0
        return (0, 0, self.count, self.lba_lo, self.lba_mid, self.lba_hi, self.device)[reg]

    def write(self, port: int, size: int, value: int) -> None:
        if not self.present:
            return
        if port == CONTROL:
            self._device_control(value & 0xFF)
            return
        reg = port - BASE
        if reg == DATA:
            if self._selected():
                self._data_write(size, value)
            return
        value &= 0xFF
        if self.status & BSY:
            return                                     # in reset: the task file is not accepted
        if reg == ERROR_FEATURES:
            self.features = value
        elif reg == COUNT:
            self.count = value
        elif reg == LBA_LO:
            self.lba_lo = value
        elif reg == LBA_MID:
            self.lba_mid = value
        elif reg == LBA_HI:
            self.lba_hi = value
        elif reg == DEVICE:
            self.device = value | 0xA0                 # bits 7 and 5 are obsolete, read as one
        elif self._selected():
            self.intrq = False
            self._update_irq()
            self._command(value)

    def _device_control(self, value: int) -> None:
        was_reset = self.control & CTL_SRST
        self.control = value
        if value & CTL_SRST and not was_reset:
            self.reset()
            self.status = BSY | DSC                    # held in reset until SRST drops
        elif was_reset and not value & CTL_SRST:
            self.reset()
        self._update_irq()

    def close(self) -> None:
        """Every completed sector is already in the file: just let it go."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
