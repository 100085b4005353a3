"""ATA PIO disk through ports 0x1F0-0x1F7/0x3F6 as a guest driver does it, on a temporary raw
image: reads, writes (in the file at once and after close), IDENTIFY, errors, reset, IRQ 14."""
import os

import pytest

from dbt.runtime.devices.ata import ATADisk, DriveError

DATA, ERROR, COUNT, LBA0, LBA1, LBA2, DEVICE, STATUS = range(0x1F0, 0x1F8)
COMMAND, ALTSTATUS, CONTROL = STATUS, 0x3F6, 0x3F6
BSY, DRDY, DSC, DRQ, ERR = 0x80, 0x40, 0x10, 0x08, 0x01
ABRT = 0x04
SECTORS = 300


def pattern(lba):
    return bytes((lba * 7 + i) & 0xFF for i in range(512))


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(b"".join(pattern(lba) for lba in range(SECTORS)))
    return path


@pytest.fixture
def disk(image, plug):
    device = ATADisk(str(image))
    device.line = plug(device)
    yield device
    device.close()


def issue(bus, command, lba=0, count=1, device=0xE0):
    bus.write(DEVICE, 1, device | (lba >> 24) & 0x0F)
    bus.write(COUNT, 1, count & 0xFF)
    bus.write(LBA0, 1, lba & 0xFF)
    bus.write(LBA1, 1, (lba >> 8) & 0xFF)
    bus.write(LBA2, 1, (lba >> 16) & 0xFF)
    bus.write(COMMAND, 1, command)


def read_block(bus):
    """What a driver does after DRQ: 256 16-bit reads of the data port."""
    return b"".join(bus.read(DATA, 2).to_bytes(2, "little") for _ in range(256))


def write_block(bus, data):
    for i in range(0, len(data), 2):
        bus.write(DATA, 2, int.from_bytes(data[i:i + 2], "little"))


def test_idle_status_after_power_on(disk, bus):
    assert bus.read(STATUS, 1) == DRDY | DSC
    assert bus.read(ERROR, 1) == 0x01                       # diagnostic passed
    assert [bus.read(port, 1) for port in (COUNT, LBA0, LBA1, LBA2)] == [1, 1, 0, 0]   # ATA signature


def test_read_sectors(disk, bus):
    issue(bus, 0x20, lba=3, count=3)
    for lba in (3, 4, 5):
        assert bus.read(STATUS, 1) == DRDY | DSC | DRQ
        assert read_block(bus) == pattern(lba)
    assert bus.read(STATUS, 1) == DRDY | DSC                # DRQ drops after the last word
    assert bus.read(DATA, 2) == 0                           # no transfer: nothing to read


def test_write_then_read_back_and_file_bytes(disk, bus, image):
    data = [bytes((0xA0 + n) ^ (i & 0xFF) for i in range(512)) for n in range(2)]
    issue(bus, 0x30, lba=10, count=2)
    for block in data:
        assert bus.read(ALTSTATUS, 1) & DRQ
        write_block(bus, block)
    assert bus.read(STATUS, 1) == DRDY | DSC
    with open(image, "rb") as f:                            # in the file already, before close
        f.seek(10 * 512)
        assert f.read(1024) == b"".join(data)
    issue(bus, 0x20, lba=9, count=4)
    assert [read_block(bus) for _ in range(4)] == [pattern(9), *data, pattern(12)]
    disk.close()
    contents = image.read_bytes()
    assert len(contents) == SECTORS * 512
    assert contents[10 * 512:12 * 512] == b"".join(data)
    assert contents[:10 * 512] == b"".join(pattern(lba) for lba in range(10))
    assert contents[12 * 512:] == b"".join(pattern(lba) for lba in range(12, SECTORS))


def test_interrupted_write_keeps_completed_sectors(disk, bus, image):
    issue(bus, 0x30, lba=0, count=3)
    write_block(bus, b"\x11" * 512)
    write_block(bus, b"\x22" * 100)                        # the run ends mid-sector
    disk.close()
    contents = image.read_bytes()
    assert contents[:512] == b"\x11" * 512
    assert contents[512:1024] == pattern(1)


def test_sector_count_zero_means_256(disk, bus):
    issue(bus, 0x20, lba=40, count=0)
    blocks = [read_block(bus) for _ in range(256)]
    assert blocks[0] == pattern(40) and blocks[255] == pattern(295)
    assert bus.read(STATUS, 1) == DRDY | DSC


def test_dword_data_port(disk, bus):
    issue(bus, 0x20, lba=7, count=1)
    data = b"".join(bus.read(DATA, 4).to_bytes(4, "little") for _ in range(128))
    assert data == pattern(7)
    assert not bus.read(STATUS, 1) & DRQ


def test_registers_after_transfer_point_past_it(disk, bus):
    issue(bus, 0x20, lba=0xFE, count=2)
    read_block(bus)
    assert [bus.read(port, 1) for port in (COUNT, LBA0, LBA1, LBA2)] == [1, 0xFF, 0x00, 0x00]
    read_block(bus)
    assert [bus.read(port, 1) for port in (COUNT, LBA0, LBA1, LBA2)] == [0, 0x00, 0x01, 0x00]


def test_identify(disk, bus):
    issue(bus, 0xEC, count=0, device=0xA0)
    assert bus.read(STATUS, 1) == DRDY | DSC | DRQ
    raw = read_block(bus)
    assert bus.read(STATUS, 1) == DRDY | DSC
    words = [int.from_bytes(raw[i:i + 2], "little") for i in range(0, 512, 2)]

    def text(first, last):            # ATA strings: the first character in each word's high byte
        return b"".join(w.to_bytes(2, "big") for w in words[first:last + 1]).decode("ascii").strip()

    assert words[0] & 0x8000 == 0                           # an ATA device
    assert text(27, 46) == "DBT HARDDISK"
    assert text(10, 19) and text(23, 26)                    # serial number, firmware revision
    assert words[49] & 0x0200                               # LBA supported
    assert words[60] | words[61] << 16 == SECTORS           # LBA28 capacity
    assert words[1] * words[3] * words[6] <= SECTORS        # CHS geometry fits the disk
    assert words[83] & 0x1000 and words[86] & 0x1000        # FLUSH CACHE
    assert words[255] & 0xFF == 0xA5 and sum(raw) & 0xFF == 0   # integrity word


@pytest.mark.parametrize("lba,count", [(SECTORS, 1), (SECTORS - 1, 2), (2**27, 1), (SECTORS - 100, 0)])
def test_beyond_the_image_aborts(disk, bus, lba, count):
    issue(bus, 0x20, lba=lba, count=count)
    assert bus.read(STATUS, 1) == DRDY | DSC | ERR
    assert bus.read(ERROR, 1) == ABRT
    issue(bus, 0x30, lba=lba, count=count)
    assert bus.read(STATUS, 1) == DRDY | DSC | ERR


def test_last_sector_is_readable(disk, bus):
    issue(bus, 0x20, lba=SECTORS - 1, count=1)
    assert read_block(bus) == pattern(SECTORS - 1)
    assert bus.read(ERROR, 1) == 0


def test_unknown_command_aborts_then_next_succeeds(disk, bus):
    issue(bus, 0xFF)
    assert bus.read(STATUS, 1) & ERR and bus.read(ERROR, 1) == ABRT
    issue(bus, 0xE7)                                        # CACHE FLUSH
    assert bus.read(STATUS, 1) == DRDY | DSC
    assert bus.read(ERROR, 1) == 0


def test_chs_addressing(disk, bus):
    bus.write(DEVICE, 1, 0xA0 | 1)                          # head 1
    bus.write(COUNT, 1, 1)
    bus.write(LBA0, 1, 2)                                   # sector 2 (sectors count from 1)
    bus.write(LBA1, 1, 0)
    bus.write(LBA2, 1, 0)                                   # cylinder 0
    bus.write(COMMAND, 1, 0x20)
    assert read_block(bus) == pattern(63 + 1)               # 63 sectors per track


def test_irq14_and_nien(disk, bus):
    line = disk.line
    issue(bus, 0x20, lba=0, count=2)
    assert line.level                                       # data ready
    assert bus.read(ALTSTATUS, 1) & DRQ and line.level      # alternate status leaves it
    bus.read(STATUS, 1)
    assert not line.level                                   # status acknowledges it
    read_block(bus)
    assert line.level                                       # the second block
    bus.read(STATUS, 1)
    read_block(bus)
    assert not line.level                                   # PIO in: no interrupt at the end
    bus.write(CONTROL, 1, 0x02)                             # nIEN
    issue(bus, 0x20, lba=0, count=1)
    assert not line.level
    assert len(line.rises) == 2


def test_software_reset(disk, bus):
    issue(bus, 0x20, lba=5, count=4)
    bus.write(CONTROL, 1, 0x04)                             # SRST
    assert bus.read(ALTSTATUS, 1) & BSY
    bus.write(CONTROL, 1, 0x00)
    assert bus.read(STATUS, 1) == DRDY | DSC
    assert bus.read(ERROR, 1) == 0x01
    assert [bus.read(port, 1) for port in (COUNT, LBA0, LBA1, LBA2)] == [1, 1, 0, 0]
    assert bus.read(DATA, 2) == 0                           # the transfer is gone


def test_slave_is_absent(disk, bus):
    bus.write(DEVICE, 1, 0xB0)
    assert bus.read(STATUS, 1) == 0
    bus.write(COMMAND, 1, 0xEC)                             # ignored
    bus.write(DEVICE, 1, 0xA0)
    assert bus.read(STATUS, 1) == DRDY | DSC


def test_no_image_reads_zero(plug, bus):
    drive = ATADisk(None)
    plug(drive)
    bus.write(COMMAND, 1, 0xEC)
    assert [bus.read(port, 1) for port in range(0x1F1, 0x1F8)] == [0] * 7
    assert bus.read(ALTSTATUS, 1) == 0 and bus.read(DATA, 2) == 0
    drive.close()


def test_bad_image_is_a_clear_error(tmp_path):
    with pytest.raises(DriveError, match="missing.img"):
        ATADisk(str(tmp_path / "missing.img"))
    readonly = tmp_path / "ro.img"
    readonly.write_bytes(bytes(512))
    os.chmod(readonly, 0o444)
    if os.geteuid() != 0:                                   # root opens it anyway
        with pytest.raises(DriveError):
            ATADisk(str(readonly))
