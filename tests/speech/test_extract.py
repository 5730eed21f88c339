"""Extraction, table-driven: the dev set, held-out sentences written here, ASR spellings, and negatives.

Each row names only the fields it is about; the others are not checked for that row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from speech.extract import Extractor, get_extractor
from speech.fields import Budget, Fields
from speech.lexicon import Lexicon
from tests.speech.conftest import REF, budget, check_fields, dev_rows


def _b(low: int, high: int | None = None) -> dict[str, int]:
    return budget(low, high)["budget"]


def _check(text: str, expect: dict[str, Any], ref: str = REF) -> None:
    check_fields(text, expect, ref)


@pytest.mark.parametrize("row", dev_rows(), ids=lambda row: row["id"])
def test_dev_set_reference_text(row: dict[str, Any]) -> None:
    _check(row["text"], row["expect"], row["ref"])


HELD_OUT = [
    ("客户预算控制在六七十万,希望春节前上线,目前在用金蝶云星空。", {"budget": _b(600_000, 700_000), "competitors": ["金蝶"]}),
    ("采购部经理说下个月二十号开标,预算大约一百五十万元。",
     {"titles": ["采购经理"], "tender_date": "2026-12-20", "budget": _b(1_500_000)}),
    ("他们IT负责人比较关心数据安全,要求本地部署,华为云也在接触。",
     {"titles": ["IT负责人"], "concerns": ["数据安全"], "competitors": ["华为"]}),
    ("客户去年在CRM上花了三十万,今年预算五十万到六十万,下周五开标。",
     {"budget": _b(500_000, 600_000), "tender_date": "2026-11-27"}),
    ("华为报价八十万,比我们便宜十万,客户预算一百万。", {"budget": _b(1_000_000), "competitors": ["华为"]}),
    ("投标截止时间是下个月五号,对方的技术总监很看重系统稳定性。",
     {"tender_date": "2026-12-05", "titles": ["技术总监"], "concerns": ["技术顾虑"]}),
    ("预算九万五,客户想分两期付款。", {"budget": _b(95_000), "concerns": ["付款方式"]}),
    ("对方用的是泛微,想换成我们的产品。", {"competitors": ["泛微"]}),
    ("客户说价格不是问题,主要担心售后响应。", {"concerns": ["售后响应"]}),
    ("我们销售总监也去了,客户总经理很满意。", {"titles": ["总经理"]}),
    ("他们公司预算大概是两个亿,明天上午开标。", {"budget": _b(200_000_000), "tender_date": "2026-11-21"}),
    # ANNOTATION.md: connecting to existing systems is a technical concern
    ("客户预算在80-100万之间,希望对接现有ERP系统。",
     {"budget": _b(800_000, 1_000_000), "concerns": ["技术顾虑"], "keywords": ["对接", "ERP"]}),
    ("开标日期定在2027年1月15日,预算300万元。", {"tender_date": "2027-01-15", "budget": _b(3_000_000)}),
    ("预算五十万,其中首付百分之三十,尾款验收后付。", {"budget": _b(500_000), "concerns": ["付款方式"]}),
    ("客户问我们有没有等保三级资质,这个是合规要求。", {"concerns": ["合规"]}),
    ("客户的董事长和财务总监都参加了会议", {"titles": ["董事长", "财务总监"]}),
    ("竞争对手有Kingdee和纷享销客,还有H3C。", {"competitors": ["金蝶", "纷享销客", "新华三"]}),
    ("开标时间暂定下下周一,预算四十万", {"tender_date": "2026-11-30", "budget": _b(400_000)}),
    ("客户预算一百万左右,三十号开标", {"tender_date": "2026-11-30", "budget": _b(1_000_000)}),
    # a slow system is performance (技术顾虑), not support response
    ("他们的运维主管抱怨现在系统响应速度太慢", {"titles": ["运维主管"], "concerns": ["技术顾虑"]}),
    ("客户希望我们能驻场实施,工期三个月", {"concerns": ["售后响应", "交付周期"]}),
    ("客户说如果价格合适,下周二就公开招标,预算两百三十万",
     {"tender_date": "2026-11-24", "budget": _b(2_300_000), "concerns": ["价格"]}),
    ("客户那边用友的系统用了五年了,想换掉", {"competitors": ["用友"]}),
    ("预算大概三四百万", {"budget": _b(3_000_000, 4_000_000)}),
    ("这次投标阿里云和腾讯云都来了", {"competitors": ["阿里云", "腾讯云"]}),
    ("采购经理下周一来公司考察,开标定在十二月十八号。", {"tender_date": "2026-12-18", "titles": ["采购经理"]}),
    ("项目预算是一千二百万,客户总裁亲自抓。", {"budget": _b(12_000_000), "titles": ["总裁"]}),
    ("客户预算只有八千块钱", {"budget": _b(8_000)}),
    ("五十万左右的预算,评标在下周四", {"budget": _b(500_000), "tender_date": "2026-11-26"}),
    ("去年预算一百万,今年缩减到八十万", {"budget": _b(800_000)}),
    ("客户预算两千万,要求国产化,浪潮和中兴都在竞争",
     {"budget": _b(20_000_000), "concerns": ["合规"], "competitors": ["浪潮", "中兴"]}),
    ("他们去年买过浪潮的服务器,人力资源总监也在", {"competitors": ["浪潮"], "titles": ["人力资源总监"]}),
    ("运维总监关心系统的稳定性和售后响应时间,竞品是新华三",
     {"titles": ["运维总监"], "concerns": ["技术顾虑", "售后响应"], "competitors": ["新华三"]}),
    ("项目经理说预算是四百万,十二月十五号投标截止",
     {"titles": ["项目经理"], "budget": _b(4_000_000), "tender_date": "2026-12-15"}),
    ("大概两三百万的预算,标书12月5号前要交", {"budget": _b(2_000_000, 3_000_000), "tender_date": "2026-12-05"}),
    ("投标截止到12月20号,客户千万不要我们迟到", {"tender_date": "2026-12-20", "budget": None}),
    ("开标时间:12月3日,预算不超过50万", {"tender_date": "2026-12-03", "budget": _b(500_000)}),
    ("下周二上午十点开标", {"tender_date": "2026-11-24"}),
    ("客户嫌贵,希望能二开,还要等保合规", {"concerns": ["价格", "定制需求", "合规"]}),
    ("客户预算有个五十万,下周四招投标", {"budget": _b(500_000), "tender_date": "2026-11-26"}),
]

ASR_SPELLINGS = [
    ("客户议算八十万左右,下周四开表,竞争对手是滑位和金跌。",
     {"budget": _b(800_000), "tender_date": "2026-11-26", "competitors": ["华为", "金蝶"]}),
    ("采购总结说又有那边也报了价,预算120万", {"titles": ["采购总监"], "competitors": ["用友"], "budget": _b(1_200_000)}),
    ("因算大概三十万,后天开标", {"budget": _b(300_000), "tender_date": "2026-11-22"}),
    ("页算50万 下个月10号招标", {"budget": _b(500_000), "tender_date": "2026-12-10"}),
    ("运算在80万到100万之间 下周3开标", {"budget": _b(800_000, 1_000_000), "tender_date": "2026-11-25"}),
    ("一算一个以分五年执行", {"budget": _b(100_000_000)}),
    ("这个项目一算两百万左右 业底前要完成招标", {"budget": _b(2_000_000), "tender_date": "2026-11-30"}),
    ("又有核金跌都在争取", {"competitors": ["用友", "金蝶"]}),
    ("分享销客也报了名", {"competitors": ["纷享销客"]}),
    ("台务总监问能不能分期", {"titles": ["财务总监"], "concerns": ["付款方式"]}),
    ("总经历下周要亲自听方案", {"titles": ["总经理"]}),
    ("信息中新主任关心等宝合规", {"titles": ["信息中心主任"], "concerns": ["合规"]}),
    ("主要顾虑是受后响应速度", {"concerns": ["售后响应"]}),
    ("首付百分之三十 手付款分三期", {"concerns": ["付款方式"]}),
    ("周标定在12月10号 印券60万", {"tender_date": "2026-12-10", "budget": _b(600_000)}),
    ("周标订在12月10号", {"tender_date": "2026-12-10"}),
    ("订算一个以 分五年执行", {"budget": _b(100_000_000)}),
    ("预算在80万到100万之间。下周三 拆标", {"tender_date": "2026-11-25"}),
]

NEGATIVES = [
    ("我写了一份技术总结给客户。", {"titles": []}),
    ("会后做个总结。", {"titles": []}),
    ("矛盾转化为合作,他们有又有的说法。", {"competitors": []}),
    ("这笔钱化为乌有了", {"competitors": []}),
    ("黄金跌了不少,客户暂时没有预算。", {"competitors": [], "budget": None}),
    ("我在微信上把资料发给客户了。", {"competitors": []}),
    ("数字化转型的浪潮下,客户想上一套CRM。", {"competitors": [], "keywords": ["CRM"]}),
    ("宁静致远是他们的口号,客户对交付比较担心", {"competitors": [], "concerns": ["交付周期"]}),
    ("客户有两百人左右,预算还没有确定。", {"budget": None}),
    ("今年的预算已经花完了,明年预算再说。", {"budget": None}),
    ("去年他们花了八十万做CRM。", {"budget": None}),
    ("金蝶报价九十万,比我们低百分之十。", {"budget": None, "competitors": ["金蝶"]}),
    ("客户公司注册资本五千万,员工三百多人。", {"budget": None}),
    ("下周三去拜访客户,招标会在十二月中旬。", {"tender_date": None}),
    ("十二月八号签合同,招标已经结束了。", {"tender_date": None}),
    ("月底之前要把报价发给客户,招标在下个月。", {"tender_date": None}),
    ("下个月三号前要看到报价,合同明年三月到期。", {"tender_date": None}),
    ("明天去拜访采购总监", {"tender_date": None, "titles": ["采购总监"]}),
    ("运算速度很快,客户很满意。", {"budget": None}),
    ("项目的目标是十二月上线", {"tender_date": None}),
    ("对接人是小王,下周五一起过方案", {"concerns": []}),
    ("预算几十万吧,还没定", {"budget": None}),
    ("预算十几万", {"budget": None}),
    ("万一客户预算不够,可以分期", {"budget": None, "concerns": ["价格", "付款方式"]}),
    # ANNOTATION.md: 科长 and 副科长 keep their unit
    ("信息科科长和设备科副科长都在", {"titles": ["信息科科长", "设备科副科长"]}),
    ("目标定在12月10号,指标下周三出来", {"tender_date": None}),
    ("运转了五十万次,一圈下来", {"budget": None}),
    ("客户结算了五十万,计算下来亏了", {"budget": None}),
    ("下周和客户对接一下,交付后再付尾款", {"concerns": ["付款方式"]}),
    ("接口人是信息部的小李", {"concerns": []}),
]


@pytest.mark.parametrize(("text", "expect"), HELD_OUT, ids=[t for t, _ in HELD_OUT])
def test_held_out_sentences(text: str, expect: dict[str, Any]) -> None:
    _check(text, expect)


@pytest.mark.parametrize(("text", "expect"), ASR_SPELLINGS, ids=[t for t, _ in ASR_SPELLINGS])
def test_asr_spellings_are_recognised_by_sound(text: str, expect: dict[str, Any]) -> None:
    _check(text, expect)


@pytest.mark.parametrize(("text", "expect"), NEGATIVES, ids=[t for t, _ in NEGATIVES])
def test_ordinary_words_and_other_numbers_do_not_fire(text: str, expect: dict[str, Any]) -> None:
    _check(text, expect)


def test_output_is_the_design_contract() -> None:
    fields = get_extractor().extract("预算八十万到一百万,下周三开标,技术总监担心数据安全,华为也在跟。",
                                     datetime.fromisoformat("2026-11-16T11:00:00+08:00"))
    assert fields.to_json() == {
        "budget": {"min": 800_000, "max": 1_000_000},
        "tender_date": "2026-11-25",
        "competitors": ["华为"],
        "concerns": ["数据安全"],
        "titles": ["技术总监"],
        "keywords": [],
    }


def test_relative_dates_use_the_reps_calendar_day_whatever_the_offset_of_ref() -> None:
    # 2026-11-20 18:30 UTC is 02:30 on the 21st in Beijing: 明天 is the 22nd
    _check("明天开标", {"tender_date": "2026-11-22"}, ref="2026-11-20T18:30:00+00:00")
    _check("明天开标", {"tender_date": "2026-11-21"}, ref="2026-11-20T18:30:00")  # naive: taken as local


def test_fields_round_trip_through_json() -> None:
    fields = Fields(Budget(1, 2), datetime(2026, 12, 3).date(), ("华为",), ("价格",), ("董事长",), ("等保",))
    assert Fields.from_json(fields.to_json()) == fields
    assert Fields.from_json(Fields().to_json()) == Fields()


def test_a_tenant_lexicon_adds_and_removes_competitors() -> None:
    text = "客户在用星火CRM,泛微那边也在报价。"
    ref = datetime.fromisoformat(REF)
    assert get_extractor().extract(text, ref).competitors == ("泛微",)
    tenant = Lexicon.default().merge({"competitors": {"星火": ["星火CRM"]}, "remove": {"competitors": ["泛微"]}})
    assert get_extractor(tenant).extract(text, ref).competitors == ("星火",)


def test_a_tenant_title_is_found_and_others_tenants_are_unaffected() -> None:
    text = "首席数据官很关心数据安全"
    ref = datetime.fromisoformat(REF)
    tenant = Lexicon.default().merge({"titles": ["首席数据官"]})
    assert get_extractor(tenant).extract(text, ref).titles == ("首席数据官",)
    assert get_extractor().extract(text, ref).titles == ()


def test_extractors_are_cached_by_lexicon_content() -> None:
    one = Lexicon.default().merge({"products": ["某平台"]})
    same = Lexicon.from_json(one.to_json())
    assert get_extractor(one) is get_extractor(same)
    assert get_extractor(one) is not get_extractor()


def test_the_global_jieba_dictionary_is_left_alone() -> None:
    import jieba

    Extractor(Lexicon.default().merge({"competitors": {"独角兽科技": []}}))
    assert "独角兽科技" not in jieba.dt.FREQ


def test_traditional_and_full_width_input() -> None:
    _check("客戶預算五十萬，下個月十五號招標，華為也在跟", {"budget": _b(500_000), "competitors": ["华为"]})
    _check("预算５０万，下个月１５号招标", {"budget": _b(500_000), "tender_date": "2026-12-15"})
