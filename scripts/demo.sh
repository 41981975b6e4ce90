#!/usr/bin/env bash
# Plays the demo county of 青禾县 (entirely fictional, 虚构演示数据，非涉密)
# into a fresh store under demo/: six handling units and the supervision
# office, twenty leads with their histories from March to the demo's
# "today", 2025-09-15, every step signed by the demo principal who took it.
# Keys are demo keys without passphrases. Run from the top of the tree
# (`make demo` does); it starts over each time.
set -euo pipefail

Q=${QINGLING_BIN:-build/qingling}
DEMO=${DEMO_DIR:-demo}
rm -rf "$DEMO"
mkdir -p "$DEMO/keys"
export QINGLING_DB="$DEMO/qinghe.db"
unset QINGLING_KEY QINGLING_PASSPHRASE_FILE

key() { "$Q" key new "$DEMO/keys/$1.key" --name "$1" --no-passphrase >/dev/null 2>&1; }
# as WHO DATE COMMAND...: run a command as WHO at 10:00 local time on DATE.
as() {
    local who=$1 date=$2
    shift 2
    QINGLING_NOW="${date}T02:00:00Z" QINGLING_KEY="$DEMO/keys/$who.key" "$Q" "$@"
}
# lead: register as WHO on DATE with fields; prints the new id.
add() {
    local who=$1 date=$2 unit=$3
    shift 3
    local args=()
    for f in "$@"; do args+=(--field "$f"); done
    as "$who" "$date" lead add --unit "$unit" "${args[@]}"
}
move() {
    local who=$1 date=$2 id=$3 t=$4
    shift 4
    local args=()
    for f in "$@"; do args+=(--field "$f"); done
    as "$who" "$date" lead move "$id" "$t" "${args[@]}" >/dev/null
}
approve() { as "$1" "$2" lead approve "$3" >/dev/null; }

echo "== 青禾县 demo county (虚构演示数据，非涉密) in $DEMO/"
key admin
"$Q" --key "$DEMO/keys/admin.key" init --origin qinghe.demo/leads \
    --admin-key "$DEMO/keys/admin.key" >/dev/null
A() { as admin 2025-03-01 "$@" >/dev/null; }
A unit add SH --name 青禾县扫黑办 --kind supervision
A unit add LT --name 青禾县鹭汀镇人民政府 --kind township
A unit add QY --name 青禾县栖云乡人民政府 --kind township
A unit add TD --name 青禾县桐渡镇人民政府 --kind township
A unit add LQ --name 青禾县岚桥镇人民政府 --kind township
A unit add GA --name 青禾县公安局 --kind member
A unit add ZR --name 青禾县自然资源局 --kind member
A unit add JW --name 青禾县纪委监委 --kind audit
for p in sh-dengji-01:registrar sh-yanpan-01:triage sh-zhuren-01:director \
         dd-pc-01:inspector; do
    key "${p%%:*}"
    A principal add "$DEMO/keys/${p%%:*}.key.pub" --unit SH --role "${p#*:}"
done
for u in LT QY TD LQ GA ZR; do
    for p in lly-01:liaison hc-01:verifier hc-02:verifier fzr-01:head; do
        key "$u-${p%%:*}"
        A principal add "$DEMO/keys/$u-${p%%:*}.key.pub" --unit "$u" --role "${p#*:}"
    done
done
key sj-01
A principal add "$DEMO/keys/sj-01.key.pub" --unit JW --role auditor
A workflow add workflows/gang_lead.lua
A calendar set workflows/calendars/cn.cal

REG=sh-dengji-01 TRI=sh-yanpan-01 DIR=sh-zhuren-01 INSP=dd-pc-01
assign() { # id date unit due priority [letter]
    local extra=()
    [ $# -ge 6 ] && extra=(--field "letter_no=$6")
    as $TRI "$2" lead move "$1" assign --field "handling_unit=$3" \
        --field "due_at=$4" --field "priority=$5" --field "assign_no=青扫交〔2025〕${1##*-}号" \
        --field offence_types=强迫交易 --field "umbrella_flag=${7:-否}" "${extra[@]}" >/dev/null
    approve $DIR "$2" "$1"
}
sign() { move "$2-lly-01" "$3" "$1" sign "verifiers=$2-hc-01
$2-hc-02"; }
report() { # id unit date finding results...
    local id=$1 u=$2 d=$3 finding=$4 results=$5
    as "$u-hc-01" "$d" lead move "$id" report --field "finding=$finding" \
        --field "findings_detail=走访、询问、调取记录" --field umbrella_flag=否 \
        --field "assets=${6:-无}" --field "results=$results" >/dev/null
    approve "$u-fzr-01" "$d" "$id"
}
contact() { move "$2-hc-01" "$3" "$1" contact "contact_log=$3 电话联系举报人"; }
feedback() { move "$2-lly-01" "$3" "$1" feedback feedback_target=举报人 \
    "feedback_method=$4" "feedback_opinion=$5"; }
reg() { # who date unit source received channel named subjects locality industry summary
    local who=$1 date=$2 unit=$3
    local fields=("source=$4" "received_at=$5" "channel=$6" "named=$7"
                  "subjects=$8" "locality=$9" "industry=${10}" "summary=${11}")
    # Only the office's registrar opens the reporter envelope (§4.1).
    [ "$7" = 实名 ] && [ "$who" = $REG ] && fields+=("reporter=举报人甲，电话000-0000-0000")
    add "$who" "$date" "$unit" "${fields[@]}"
}

echo "== playing the leads, 2025-03-04 to 2025-09-15 (numbered in order of registration)"
L1=$(reg $REG 2025-03-04 SH 12337平台下发 2025-03-04 平台 实名 "张某某
“河滩砂场”团伙" 桐渡镇 自然资源 "非法采挖河砂，强迫村民高价购砂")
move $TRI 2025-03-05 "$L1" triage
assign "$L1" 2025-03-06 ZR 2025-04-06 一般
sign "$L1" ZR 2025-03-07
contact "$L1" ZR 2025-03-10
L2=$(reg $REG 2025-03-18 SH 群众举报 2025-03-18 来信 匿名 李某某 栖云乡 乡村治理 \
    "村委会主任把持村务，截留集体土地租金")
move $TRI 2025-03-19 "$L2" triage
assign "$L2" 2025-03-20 QY 2025-04-19 一般
sign "$L2" QY 2025-03-21
report "$L1" ZR 2025-04-02 部分查实 "行政处罚
移交县公安局" 已查封采砂船2艘
move $DIR 2025-04-05 "$L1" approve review_opinion=同意
feedback "$L1" ZR 2025-04-09 电话 满意
L4=$(reg $REG 2025-04-10 SH 上级交办 2025-04-10 函件 匿名 "赵某某放贷团伙" 岚桥镇 金融放贷 \
    "套路贷，软暴力催收")
move $TRI 2025-04-10 "$L4" triage
assign "$L4" 2025-04-11 GA 2025-06-10 重点督办
sign "$L4" GA 2025-04-11
L12=$(reg LQ-lly-01 2025-04-15 LQ "自行发现(摸排)" 2025-04-15 来访 匿名 何某某 岚桥镇 市场流通 \
    "垄断婚丧服务，强迫交易")
move $TRI 2025-04-16 "$L12" triage
assign "$L12" 2025-04-16 LQ 2025-05-16 一般
sign "$L12" LQ 2025-04-16
report "$L2" QY 2025-04-18 部分查实 "移送纪委监委"
move $DIR 2025-04-22 "$L2" approve_close review_opinion=同意，村务公开整改
L14=$(reg $REG 2025-04-22 SH 群众举报 2025-04-22 来电 匿名 罗某某 桐渡镇 交通运输 \
    "非法营运车队，殴打竞争者")
move $TRI 2025-04-23 "$L14" triage
assign "$L14" 2025-04-23 TD 2025-05-23 一般
sign "$L14" TD 2025-04-24
L5=$(reg $REG 2025-05-06 SH 部门移送 2025-05-06 函件 匿名 刘某某 鹭汀镇 工程建设 \
    "强行供料，阻挠施工")
move $TRI 2025-05-06 "$L5" triage
assign "$L5" 2025-05-07 LT 2025-06-06 一般
sign "$L5" LT 2025-05-07
report "$L12" LQ 2025-05-10 查否 "约谈"
move $DIR 2025-05-12 "$L12" approve_close review_opinion=同意
L6=$(reg $REG 2025-05-12 SH 巡视巡察移交 2025-05-12 函件 实名 "陈某某
钱某某" 岚桥镇 乡村治理 "原村支书侵占集体资产、强揽村道工程；站所人员通风报信")
move $TRI 2025-05-13 "$L6" triage
assign "$L6" 2025-05-14 LQ 2025-07-14 重点督办 "青扫移〔2025〕6号" 是
sign "$L6" LQ 2025-05-15
contact "$L6" LQ 2025-05-20
L17=$(reg $REG 2025-05-19 SH 群众举报 2025-05-19 来信 匿名 陈某某 岚桥镇 乡村治理 \
    "侵占集体资产（与前案同一事实）")
move $TRI 2025-05-20 "$L17" triage
move $TRI 2025-05-21 "$L17" merge "master_lead=$L6"
approve $DIR 2025-05-21 "$L17"
report "$L14" TD 2025-05-19 "不属于涉黑涉恶" "移交交通部门处罚"
move $DIR 2025-05-20 "$L14" approve_close review_opinion=属非法营运，移交处罚
L11=$(reg $REG 2025-05-20 SH 群众举报 2025-05-20 来信 实名 冯某某 栖云乡 乡村治理 \
    "霸占集体鱼塘，威胁承包人")
move $TRI 2025-05-21 "$L11" triage
assign "$L11" 2025-05-21 QY 2025-06-20 一般
sign "$L11" QY 2025-05-21
contact "$L11" QY 2025-05-23
report "$L4" GA 2025-05-25 查实 "立案侦查" 冻结涉案资金
report "$L5" LT 2025-05-25 查否 "不予处理"
move $DIR 2025-05-28 "$L4" approve review_opinion=同意立案
move $DIR 2025-05-28 "$L5" approve review_opinion=同意
move GA-lly-01 2025-05-30 "$L4" feedback feedback_target=上级机关 feedback_method=书面 feedback_opinion=未表态
move LT-lly-01 2025-05-30 "$L5" feedback feedback_target=移送部门 feedback_method=书面 feedback_opinion=满意
L16=$(reg $REG 2025-06-05 SH 12337平台下发 2025-06-05 平台 实名 谢某某 栖云乡 金融放贷 \
    "高息放贷，上门逼债")
move $TRI 2025-06-05 "$L16" triage
assign "$L16" 2025-06-06 QY 2025-07-06 一般
sign "$L16" QY 2025-06-06
L8=$(reg $REG 2025-06-10 SH "第二战场(监所检举揭发)" 2025-06-10 函件 匿名 周某某 栖云乡 社会治安 \
    "开设赌场，雇人看场")
move $TRI 2025-06-10 "$L8" triage
assign "$L8" 2025-06-11 GA 2025-08-10 重点督办
sign "$L8" GA 2025-06-11
report "$L11" QY 2025-06-18 查否 "不予处理"
move $DIR 2025-06-24 "$L11" approve review_opinion=同意
feedback "$L11" QY 2025-06-27 当面 不满意
contact "$L16" QY 2025-06-10
# Each unit head signs the unit's commitment for the third quarter.
for u in LT QY TD LQ GA ZR; do
    as "$u-fzr-01" 2025-06-30 commit sign --unit "$u" --cycle 2025Q3 \
        --cutoff 2025-08-31 --deadline 2025-09-30 >/dev/null
done
L10=$(reg $REG 2025-07-01 SH 12337平台下发 2025-07-01 网络 实名 "郑某某等" 县城 信息网络 \
    "网络舆情敲诈商户，雇佣水军")
move $TRI 2025-07-01 "$L10" triage
report "$L16" QY 2025-07-01 "不属于涉黑涉恶" "引导诉讼"
assign "$L10" 2025-07-02 GA 2025-08-01 一般
sign "$L10" GA 2025-07-02
move $DIR 2025-07-04 "$L16" approve review_opinion=属民间借贷纠纷
report "$L6" LQ 2025-07-05 查实 "立案侦查
移送纪委监委"
contact "$L10" GA 2025-07-06
move $DIR 2025-07-08 "$L6" approve review_opinion=同意
feedback "$L16" QY 2025-07-08 电话 基本满意
move LQ-lly-01 2025-07-10 "$L6" feedback feedback_target=移送部门 feedback_method=书面 feedback_opinion=满意
L13=$(reg $REG 2025-07-10 SH 上级交办 2025-07-10 函件 实名 "黄某某等" 鹭汀镇 工程建设 \
    "强揽土方工程，阻挠施工")
move $TRI 2025-07-10 "$L13" triage
assign "$L13" 2025-07-11 LT 2025-09-09 重点督办
sign "$L13" LT 2025-07-11
contact "$L13" LT 2025-07-15
L3=$(reg TD-lly-01 2025-07-21 TD "自行发现(摸排)" 2025-07-21 来访 匿名 "王某某等" 桐渡镇 市场流通 \
    "农贸市场欺行霸市，强收摊位管理费")
L9=$(reg $REG 2025-07-21 SH 群众举报 2025-07-21 来访 实名 吴某某 鹭汀镇 社会治安 \
    "插手民间债务纠纷，带人“讨债”")
move $TRI 2025-07-21 "$L3" triage
move $TRI 2025-07-22 "$L9" triage
assign "$L3" 2025-07-22 TD 2025-08-21 一般
sign "$L3" TD 2025-07-22
assign "$L9" 2025-07-23 LT 2025-08-22 一般
sign "$L9" LT 2025-07-23
report "$L10" GA 2025-07-25 查实 "立案侦查"
contact "$L9" LT 2025-07-25
move $DIR 2025-07-28 "$L10" approve review_opinion=同意立案
L7=$(reg $REG 2025-07-28 SH 12337平台下发 2025-07-28 平台 "匿名(有查询码)" "孙某某
“货运车队”" 桐渡镇 交通运输 "拦截过往货车收取“过路费”")
move $TRI 2025-07-29 "$L7" triage
feedback "$L10" GA 2025-07-30 电话 满意
assign "$L7" 2025-07-30 TD 2025-08-29 一般
sign "$L7" TD 2025-07-30
move GA-lly-01 2025-08-05 "$L8" extend extension_reason=涉案人员在逃 extended_due=2025-09-09
approve $DIR 2025-08-05 "$L8"
move TD-lly-01 2025-08-18 "$L3" extend extension_reason=商户不愿作证 extended_due=2025-09-20
approve $DIR 2025-08-18 "$L3"
L20=$(reg $REG 2025-08-18 SH 群众举报 2025-08-18 来信 匿名 "某老板" 县城 其他 \
    "称其有“黑社会背景”，无具体事实")
move $TRI 2025-08-19 "$L20" triage
move $TRI 2025-08-20 "$L20" park park_reason=无具体对象 review_date=2025-11-18
approve $DIR 2025-08-20 "$L20"
report "$L9" LT 2025-08-20 查否 "不予处理"
move TD-lly-01 2025-08-25 "$L7" extend extension_reason=外地司机难以联系 extended_due=2025-09-28
approve $DIR 2025-08-25 "$L7"
report "$L13" LT 2025-09-01 查实 "移交县公安局"
as ZR-fzr-01 2025-09-01 commit declare --unit ZR >/dev/null
move $INSP 2025-09-02 "$L12" spot_pass "spot_opinion_no=青扫评〔2025〕1号"
as $INSP 2025-09-02 commit sample --unit ZR >/dev/null
move $INSP 2025-09-03 "$L14" spot_return "spot_opinion_no=青扫评〔2025〕2号" \
    spot_reason=殴打指控未核实，同一对象6月再被举报 redo_due=2025-10-03
approve $DIR 2025-09-03 "$L14"
as $INSP 2025-09-03 commit spotcheck "$L1" pass --field "spot_opinion_no=青扫评〔2025〕3号" >/dev/null
as $INSP 2025-09-04 commit verify --unit ZR >/dev/null
move $DIR 2025-09-05 "$L9" return return_reason=证据不足 return_request=两名目击证人未询问，派出所通话记录未调取
as QY-fzr-01 2025-09-05 commit declare --unit QY >/dev/null
move $DIR 2025-09-08 "$L13" approve review_opinion=同意，移交公安
# QY's sample: all three closed leads; 011 (查否, reporter 不满意) is a
# must, and stays 待评查 while the other two pass.
as $INSP 2025-09-08 commit sample --unit QY >/dev/null
L15=$(reg $REG 2025-09-10 SH 部门移送 2025-09-10 函件 匿名 许某某 桐渡镇 自然资源 \
    "非法占用河道，强买强卖")
move $DIR 2025-09-10 "$L8" urge urge_no=青扫催〔2025〕9号
move $TRI 2025-09-10 "$L15" triage
as $INSP 2025-09-10 commit spotcheck "$L2" pass --field "spot_opinion_no=青扫评〔2025〕4号" >/dev/null
as $INSP 2025-09-10 commit spotcheck "$L16" pass --field "spot_opinion_no=青扫评〔2025〕5号" >/dev/null
assign "$L15" 2025-09-11 ZR 2025-10-10 一般
report "$L7" TD 2025-09-12 查实 "移交公安立案"
move $DIR 2025-09-12 "$L8" supervise supervise_no=QH-DB-2025-03 priority=挂牌督办
as LQ-fzr-01 2025-09-12 commit declare --unit LQ >/dev/null
L18=$(reg $REG 2025-09-12 SH 12337平台下发 2025-09-12 平台 实名 曹某某 桐渡镇 自然资源 \
    "挖山采砂，夜间运输")
move $TRI 2025-09-12 "$L18" triage
L19=$(reg $REG 2025-09-15 SH 群众举报 2025-09-14 来电 实名 邓某某 鹭汀镇 社会治安 \
    "KTV有偿陪侍，雇人看场")

echo
echo "== leads as of 2025-09-15 (the supervision director's view)"
as $DIR 2025-09-15 lead list
echo
echo "== verifying the log as the auditor would, from the administrator's key"
as sj-01 2025-09-15 audit verify --trust "$DEMO/keys/admin.key.pub"
echo
echo "store: $QINGLING_DB   keys: $DEMO/keys/   e.g. QINGLING_DB=$QINGLING_DB QINGLING_KEY=$DEMO/keys/$DIR.key $Q lead list"
echo
echo "== is each unit fully cleared (全面清零) for 2025Q3? the office's view on 2025-09-15"
as $DIR 2025-09-15 status
as $DIR 2025-09-15 report --html "$DEMO/report.html"
