#!/usr/bin/env bash
# synthfm export: the CLI contract (help, usage errors exit 2, summary
# line), nnU-Net and ImageFolder layouts, byte-identical output whatever
# the thread count, the finished-export rerun, refusal of foreign output,
# nothing left behind on a damaged corpus; and, when Debian's
# python3-nibabel is installed, the NIfTI files read back the way
# nnU-Net's NibabelIO reads them.
. "$(dirname "$0")/lib.sh"

expect_exit 0 "$SYNTHFM" export --help
grep -q "nnunet" "$T/out" && grep -q "imagefolder" "$T/out" || fail "--help lacks the formats"
expect_exit 0 "$SYNTHFM" --help
grep -q "^  export" "$T/out" || fail "top-level help lacks export"

expect_exit 0 "$SYNTHFM" generate --out "$T/c" --count 8 --size 96 --seed 2 -q
# usage errors: exit 2, a message, nothing written
expect_exit 2 "$SYNTHFM" export "$T/c" "$T/x"
grep -q -- "--format" "$T/err" || fail "missing --format not explained"
expect_exit 2 "$SYNTHFM" export --format nnUNet "$T/c" "$T/x"
grep -q "nnunet|imagefolder" "$T/err" || fail "bad --format not explained"
expect_exit 2 "$SYNTHFM" export --format nnunet "$T/c"
expect_exit 2 "$SYNTHFM" export --format nnunet --labels semantic "$T/c" "$T/x"
expect_exit 2 "$SYNTHFM" export --format nnunet --max-label 4 "$T/c" "$T/x"
grep -q "instances only" "$T/err" || fail "--max-label without instances not explained"
expect_exit 2 "$SYNTHFM" export --format nnunet --labels instances --max-label 0 "$T/c" "$T/x"
expect_exit 2 "$SYNTHFM" export --format nnunet --bogus "$T/c" "$T/x"
expect_exit 2 "$SYNTHFM" export --format nnunet --gzip-level 0 "$T/c" "$T/x"
expect_exit 2 "$SYNTHFM" export --format imagefolder --gzip-level 6 "$T/c" "$T/x"
[ ! -e "$T/x" ] || fail "a usage error wrote output"
expect_exit 1 "$SYNTHFM" export --format nnunet "$T/nowhere" "$T/x"
[ ! -e "$T/x" ] || fail "a missing corpus wrote output"

# nnU-Net: layout, summary, determinism across threads
D="$T/Dataset501_SynthFM"
expect_exit 0 "$SYNTHFM" export --format nnunet --threads 1 -q "$T/c" "$D"
grep -q "8 cases -> .*nnunet, labels binary, 1 foreground class" "$T/err" ||
    fail "no summary line: $(cat "$T/err")"
[ "$(ls "$D/imagesTr" | wc -l)" -eq 8 ] || fail "imagesTr: $(ls "$D/imagesTr")"
[ "$(ls "$D/labelsTr" | wc -l)" -eq 8 ] || fail "labelsTr: $(ls "$D/labelsTr")"
[ -f "$D/imagesTr/synthfm_000007_0000.nii.gz" ] && [ -f "$D/labelsTr/synthfm_000007.nii.gz" ] ||
    fail "case naming"
for f in dataset.json README.md synthfm_export.json; do [ -s "$D/$f" ] || fail "no $f"; done
grep -q '"numTraining": 8' "$D/dataset.json" || fail "numTraining"
grep -q '"file_ending": ".nii.gz"' "$D/dataset.json" || fail "file_ending"
gzip -t "$D"/imagesTr/*.nii.gz "$D"/labelsTr/*.nii.gz || fail "not valid gzip"
expect_exit 0 "$SYNTHFM" export --format nnunet --threads 2 -q "$T/c" "$T/d2"
diff -r "$D" "$T/d2" >/dev/null || fail "export differs between --threads 1 and 2"
[ -z "$(find "$T" -name '*.partial')" ] || fail "staging left behind"

# rerun: nothing to do; other options or foreign content: exit 2, untouched
expect_exit 0 "$SYNTHFM" export --format nnunet -q "$T/c" "$D"
grep -q "nothing to do" "$T/err" || fail "rerun did not say nothing to do"
expect_exit 2 "$SYNTHFM" export --format nnunet --labels instances -q "$T/c" "$D"
grep -q "not a finished" "$T/err" || fail "other options into OUT not explained"
diff -r "$D" "$T/d2" >/dev/null || fail "a refused export changed OUT"
mkdir "$T/mine" && echo keep >"$T/mine/notes.txt"
expect_exit 2 "$SYNTHFM" export --format imagefolder -q "$T/c" "$T/mine"
[ "$(ls "$T/mine")" = "notes.txt" ] || fail "a foreign directory was changed"

# another deflate level: other bytes, same voxels, and not "this export"
expect_exit 0 "$SYNTHFM" export --format nnunet --gzip-level 9 -q "$T/c" "$T/d9"
cmp -s "$D/imagesTr/synthfm_000001_0000.nii.gz" "$T/d9/imagesTr/synthfm_000001_0000.nii.gz" &&
    fail "--gzip-level has no effect"
cmp -s <(gzip -dc "$D/imagesTr/synthfm_000001_0000.nii.gz") \
    <(gzip -dc "$T/d9/imagesTr/synthfm_000001_0000.nii.gz") || fail "--gzip-level changed the NIfTI"
expect_exit 2 "$SYNTHFM" export --format nnunet -q "$T/c" "$T/d9"

# instances: declared classes 0..L, consecutive
expect_exit 0 "$SYNTHFM" export --format nnunet --labels instances --max-label 3 -q "$T/c" "$T/inst"
grep -q '"instance_3_and_above": 3' "$T/inst/dataset.json" || fail "cap not declared"
grep -q 'instance_4' "$T/inst/dataset.json" && fail "a class above the cap"

# ImageFolder
H="$T/hf"
expect_exit 0 "$SYNTHFM" export --format imagefolder -q "$T/c" "$H"
[ "$(wc -l <"$H/train/metadata.jsonl")" -eq 8 ] || fail "metadata.jsonl lines"
head -1 "$H/train/metadata.jsonl" | grep -q '^{"file_name": "images/000000.png", "label_file_name": "labels/000000.png", "sample_index": 0,' ||
    fail "metadata.jsonl: $(head -1 "$H/train/metadata.jsonl")"
for i in 000000 000007; do
    cmp -s "$H/train/images/$i.png" "$T/c/images/$i.png" || fail "image $i is not the corpus file"
    cmp -s "$H/train/labels/$i.png" "$T/c/labels/$i.png" || fail "label $i is not the corpus file"
done
expect_exit 0 "$SYNTHFM" export --format imagefolder --labels binary -q "$T/c" "$T/hfb"
[ "$(png_info "$T/hfb/train/labels/000003.png")" = "96 96 8 0" ] || fail "binary mask not 8-bit gray"

# a damaged corpus: exit 1, the file named, no OUT, no staging
cp -r "$T/c" "$T/bad"
printf '\x00' | dd of="$T/bad/images/000004.png" bs=1 seek=70 conv=notrunc status=none
expect_exit 1 "$SYNTHFM" export --format nnunet -q "$T/bad" "$T/y"
grep -q "images/000004.png" "$T/err" || fail "damaged file not named: $(cat "$T/err")"
[ ! -e "$T/y" ] && [ ! -e "$T/y.partial" ] || fail "a failed export left output"

# nibabel (Debian python3-nibabel), as nnU-Net's NibabelIO reads: optional
PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c "import nibabel, numpy" 2>/dev/null; then
    "$PY" - "$D" "$T/inst" <<'EOF' || fail "nibabel read-back"
import json, os, sys
import nibabel as nib
import numpy as np
for d in sys.argv[1:]:
    meta = json.load(open(os.path.join(d, "dataset.json")))
    declared = set(meta["labels"].values())
    ids = sorted(f[:-len("_0000.nii.gz")] for f in os.listdir(os.path.join(d, "imagesTr")))
    assert len(ids) == meta["numTraining"], (len(ids), meta["numTraining"])
    for c in ids:
        im = nib.load(os.path.join(d, "imagesTr", c + "_0000.nii.gz"))
        sg = nib.load(os.path.join(d, "labelsTr", c + ".nii.gz"))
        for v in (im, sg):
            assert v.ndim == 3, v.ndim                       # NibabelIO asserts ndim == 3
            assert v.header.get_zooms() == (1.0, 1.0, 999.0), v.header.get_zooms()
            assert np.allclose(v.get_qform(), v.get_sform()), "qform != sform"
            assert nib.aff2axcodes(v.affine) == ("L", "P", "S"), nib.aff2axcodes(v.affine)
        assert im.shape == sg.shape == (96, 96, 1), (im.shape, sg.shape)
        assert np.allclose(im.affine, sg.affine)
        assert im.get_data_dtype() == np.uint8
        found = set(np.unique(np.asanyarray(sg.dataobj)).tolist())
        assert found <= declared, (c, found - declared)
print("nibabel: %d + %d cases read back" % tuple(
    len(os.listdir(os.path.join(d, "imagesTr"))) for d in sys.argv[1:]))
EOF
else
    echo "python3-nibabel absent: nibabel read-back skipped (the C tests read every file with nifticlib)"
fi
echo ok
