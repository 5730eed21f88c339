"""Each phenomenon of fixtures/text/ANNOTATION.md, one table each, in sentences written here (none from dev.jsonl).

Rows name only the fields they are about. REF is Friday 2026-11-20: 下周一 is 11-23, 下下周二 is 12-01.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.speech.conftest import budget, check_fields

BUDGET = [
    # self-corrections: the last value stated
    ("客户说预算三十万,啊不对,是三十五万。", budget(350_000)),
    ("预算八十万,哦不对不对,九十万,八十万是去年的数。", budget(900_000)),
    ("他们的预算不是一百万,是一百二十万。", budget(1_200_000)),
    ("预算五六十万,更正一下,是七八十万。", budget(700_000, 800_000)),
    # ceilings are the budget
    ("控制价定在四百五十万,我们打算报四百二十万。", budget(4_500_000)),
    ("这个项目封顶就是两百万。", budget(2_000_000)),
    ("客户说钱最多给到六十万。", budget(600_000)),
    ("采购说金额不到三十万,走简易程序。", budget(300_000)),
    ("最高限价一千零五十万,标书下周发。", budget(10_500_000)),
    # approximate and spoken forms
    ("客户给的盘子大概一百五十万上下。", budget(1_500_000)),
    ("预算将近三百万吧。", budget(3_000_000)),
    ("预算四十来万。", budget(400_000)),
    ("钱这块,客户说七八十万吧。", budget(700_000, 800_000)),
    ("预算一点五个亿。", budget(150_000_000)),
    ("预算一两百万,还没细算。", budget(1_000_000, 2_000_000)),
    ("预算二十三万五。", budget(235_000)),
    ("预算的话,对方透露大概在四百万到五百万之间。", budget(4_000_000, 5_000_000)),
    ("预算嘛,他们说暂定三百万,还要等局里批。", budget(3_000_000)),
    # totals, breakdowns and shares
    ("整体预算两百六十万,其中软件一百万,硬件一百六十万。", budget(2_600_000)),
    ("预算分两年,每年五十万,加起来一百万。", budget(1_000_000)),
    ("集团今年IT总预算五千万,分到这个项目的是八百万。", budget(8_000_000)),
    # decoys
    ("金蝶报了七十万,我们报的六十八万,客户预算其实只有六十万。", budget(600_000)),
    ("去年他们在这上面花了一百万,今年预算砍到八十万。", budget(800_000)),
    ("上回招标流标了,当时限价一百万,这次限价提到一百三十万。", budget(1_300_000)),
    ("投标保证金要两万,预算五十万。", budget(500_000)),
    ("违约金是合同额的百分之十,预算九十万。", budget(900_000)),
    ("停工一天损失几十万,预算两百万左右。", budget(2_000_000)),
    ("客户有三百个员工,预算还没定。", {"budget": None}),
    ("我们报价一百万,客户觉得贵,没说预算。", {"budget": None}),
    ("尾款二十万要等验收后付,预算没透露。", {"budget": None}),
]

TENDER = [
    # self-corrections and reported changes: the last date
    ("开标是下周二,不对,是下周三。", {"tender_date": "2026-11-25"}),
    ("投标截止原定十二月十号,后来推迟到十二月十八号。", {"tender_date": "2026-12-18"}),
    # decoys: visits, demos, signing, delivery, go-live, payment, meetings, failed tenders, decisions
    ("下周一我们去演示,开标在下周四。", {"tender_date": "2026-11-26"}),
    ("十二月一号签合同,不走招标。", {"tender_date": None}),
    ("这次不招标了,月底前定下来。", {"tender_date": None}),
    ("上个月二十号开过一次标,流标了,这次开标定在十二月八号。", {"tender_date": "2026-12-08"}),
    ("系统要在十二月三十一号前上线,开标是下周五。", {"tender_date": "2026-11-27"}),
    ("答疑会是下周二,开标是下下周二。", {"tender_date": "2026-12-01"}),
    ("二十五号付首付款,招标时间还没定。", {"tender_date": None}),
    ("下周三是答疑会,开标还要等通知。", {"tender_date": None}),
    ("设备要在一月十五号之前到货,开标是十二月十号。", {"tender_date": "2026-12-10"}),
    ("下周二我们再去一趟,招标估计在十二月中旬。", {"tender_date": None}),
    # the notice's posting date only when no opening date is given
    ("招标公告下周一挂网,开标时间是十二月十五号。", {"tender_date": "2026-12-15"}),
    ("招标公告下周一挂网。", {"tender_date": "2026-11-23"}),
    # said as a topic, hedged, relative
    ("开标呢,定在下个月八号。", {"tender_date": "2026-12-08"}),
    ("开标时间,呃,初步定在十二月十号。", {"tender_date": "2026-12-10"}),
    ("明天下午递交标书。", {"tender_date": "2026-11-21"}),
    ("投标截止应该是这个月底。", {"tender_date": "2026-11-30"}),
    ("招标的话,客户说大概是十二月中旬,具体哪天没定。", {"tender_date": None}),
    ("他们准备九月底之前招标,具体哪天还没定。", {"tender_date": None}),
    # our own work on the bid is no tender date
    ("明天我把标书发给领导看一下。", {"tender_date": None}),
    ("下周三客户过来我们公司考察,招标时间没定。", {"tender_date": None}),
]

COMPETITORS = [
    ("这次跟浪潮一起联合投标,对手是华为。", ["华为"]),
    ("咱们用友这边方案做好了,对手是金蝶。", ["金蝶"]),
    ("鼎捷这次没报名,用友倒是来了。", ["用友"]),
    ("销售易和纷享销客都不投了。", []),
    ("他们现在用的是泛微OA,这次泛微肯定还会来。", ["泛微"]),
    ("中兴,不对,是新华三来做过交流。", ["新华三"]),
    ("华三的代理商也去过了。", ["新华三"]),
    ("阿里云那边好像也递了方案。", ["阿里云"]),
    ("我们用华为的设备去投,华为原厂也派人支持。", []),
    ("这次腾讯云牵头,我们做分包。", []),
    ("致远互联的人上周来过。", ["致远"]),
    ("行业数字化的浪潮下,客户想换系统。", []),
    ("他们以前用的是用友,后来换成了金蝶,这次金蝶也来投。", ["金蝶"]),
    ("现在用的是鼎捷,客户想换掉。", ["鼎捷"]),
    ("我们给华为做分包,华为总包。", []),
]

TITLES = [
    ("见了他们的后勤处处长和财务处副处长。", ["后勤处处长", "财务处副处长"]),
    ("档案馆的馆长和办公室主任都在。", ["馆长", "办公室主任"]),
    ("卫生院院长出差了,副院长接待的。", ["院长", "副院长"]),
    ("我们的售前经理和区域经理一起去的,客户是采购经理接待。", ["采购经理"]),
    ("招标代理公司的项目经理也在。", []),
    ("王总和李姐都在,李姐是他们的财务经理。", ["财务经理"]),
    ("见了他们的技术总监,不对,是技术经理。", ["技术经理"]),
    ("信息中心主任说,主任这边没意见。", ["信息中心主任"]),
    ("管委会副主任和街道办主任都参加了。", ["管委会副主任", "街道办主任"]),
    ("他们老板和领导都很重视,董事会下周开会。", []),
    ("华为的项目经理也在现场。", []),
    ("客户的质量总监和仓储经理都提了意见。", ["质量总监", "仓储经理"]),
    ("我们这边的技术总监也去了,客户是总经理出面。", ["总经理"]),
    ("客户请的咨询公司的项目经理也在。", []),
    ("分管信息化的副局长和局里的办公室主任都在。", ["副局长", "办公室主任"]),
]

CONCERNS = [
    # 数据安全: staying local, leaving with staff, who sees what, masking
    ("客户说所有业务数据只能存在他们省内的机房。", ["数据安全"]),
    ("他们怕销售离职时把客户名单带走。", ["数据安全"]),
    ("客户要求每个人只能看到自己的客户。", ["数据安全"]),
    ("数据绝对不能出市。", ["数据安全"]),
    ("身份证号这些信息展示的时候要打码。", ["数据安全"]),
    # 价格
    ("客户问价格还有没有下调空间。", ["价格"]),
    ("他们问能不能再便宜一些。", ["价格"]),
    ("采购一直在压价。", ["价格"]),
    # 付款方式
    ("客户希望验收合格后再付全款。", ["付款方式"]),
    ("他们想分三次付款。", ["付款方式"]),
    ("财务说账期至少九十天。", ["付款方式"]),
    # 定制需求: bending the product to their process
    ("审批流程要改成他们自己的那一套。", ["定制需求"]),
    ("他们要几张特殊的报表,标准版里没有。", ["定制需求"]),
    # 技术顾虑: peaks, old systems, offline, stability
    ("月末结账那几天系统会不会很慢。", ["技术顾虑"]),
    ("担心新系统跟老的财务软件接不上。", ["技术顾虑"]),
    ("客户问我们的系统断网了还能不能录单。", ["技术顾虑"]),
    # 售后响应: how fast someone turns up, people on site, a vendor nobody could reach
    ("客户很在意出了问题多长时间能派人到现场。", ["售后响应"]),
    ("他们要求我们在当地有人常驻。", ["售后响应"]),
    ("以前的供应商出了问题根本联系不上。", ["售后响应"]),
    # 交付周期: go-live before a date or a holiday, rollout length
    ("客户要求国庆节前系统必须用上。", ["交付周期"]),
    ("他们嫌我们的实施周期太长了。", ["交付周期"]),
    ("希望一个月内上线。", ["交付周期"]),
    # 合规
    ("项目要通过三级等保测评。", ["合规"]),
    ("审计那边要求所有操作都能留痕。", ["合规"]),
    ("必须用国产数据库。", ["合规"]),
    ("他们要满足银保监会的要求。", ["合规"]),
    ("每一批货都要能追溯到供应商。", ["合规"]),
    ("机房搬迁的时候业务不能停。", ["技术顾虑"]),
    # several at once, each once
    ("客户担心数据出省,还希望分期付款,又怕系统高峰期卡顿。", ["数据安全", "付款方式", "技术顾虑"]),
    # ruled out by the client, or the rep's own worry: no label
    ("客户说价钱倒好说,主要担心数据安全。", ["数据安全"]),
    ("他们对价格不敏感,更在意售后。", ["售后响应"]),
    ("交付时间他们说好商量。", []),
    ("数据放云上他们也无所谓。", []),
    ("我自己担心我们实施周期太长,客户倒没提。", []),
    ("领导催得紧,标书要赶。", []),
    ("合规经理也参加了会议。", []),
    # more ways of saying it
    ("他们说报价超出了他们能承受的预算。", ["价格"]),
    ("客户要求下个月必须上线。", ["交付周期"]),
    ("他们业务上急着用,越早交付越好。", ["交付周期"]),
    ("希望设备坏了维修能及时一点。", ["售后响应"]),
    ("以前那家厂商服务很差,他们怕再遇到。", ["售后响应"]),
    ("担心老系统的数据导过来会出问题。", ["技术顾虑"]),
    ("系统要支持几千人同时在线。", ["技术顾虑"]),
    ("数据必须放在境内。", ["数据安全"]),
    ("怕员工离职的时候把客户带走。", ["数据安全"]),
    ("界面最好能做成他们习惯的样子。", ["定制需求"]),
    ("要先垫资,验收以后才能付款。", ["付款方式"]),
    ("他们原来的服务器还能不能用是个问题。", ["技术顾虑"]),
    ("出了问题能不能马上有人处理。", ["售后响应"]),
    ("工程不能拖,他们等着用。", ["交付周期"]),
    ("他们最怕被黑客攻击。", ["数据安全"]),
    ("他们预算有限,希望我们再让一点。", ["价格"]),
    ("系统要符合行业规范。", ["合规"]),
    ("想付承兑汇票。", ["付款方式"]),
    ("价格不是他们考虑的重点。", []),
    ("客户对上线时间没什么要求。", []),
]


@pytest.mark.parametrize(("text", "expect"), BUDGET, ids=[t for t, _ in BUDGET])
def test_budget(text: str, expect: dict[str, Any]) -> None:
    check_fields(text, expect)


@pytest.mark.parametrize(("text", "expect"), TENDER, ids=[t for t, _ in TENDER])
def test_tender_date(text: str, expect: dict[str, Any]) -> None:
    check_fields(text, expect)


@pytest.mark.parametrize(("text", "names"), COMPETITORS, ids=[t for t, _ in COMPETITORS])
def test_competitors(text: str, names: list[str]) -> None:
    check_fields(text, {"competitors": names}, ordered=True)


@pytest.mark.parametrize(("text", "titles"), TITLES, ids=[t for t, _ in TITLES])
def test_titles(text: str, titles: list[str]) -> None:
    check_fields(text, {"titles": titles}, ordered=True)


@pytest.mark.parametrize(("text", "labels"), CONCERNS, ids=[t for t, _ in CONCERNS])
def test_concerns(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


def _summary(ref: str, text: str, budget_: dict | None, tender: str | None, competitors: list[str],
             concerns: list[str], titles: list[str]):
    expect = {"budget": budget_, "tender_date": tender, "competitors": competitors, "concerns": concerns,
              "titles": titles}
    return pytest.param(text, expect, ref, id=text[:24])


MON, THU, SAT = "2027-03-15T18:20:00+08:00", "2026-08-27T21:10:00+08:00", "2028-12-30T09:00:00+08:00"
SUMMARIES = [
    _summary(MON, "嗯,跟大家说一下,今天下午跑了趟昆山那个做电子元器件的厂子,见了他们的生产总监,还有他们设备科科长。那个,"
             "钱的话,生产总监说今年给这个项目批的是一百六十万,不过呢,这个数里头有三十万是留给明年维保的。招标的话,他说下下周一"
             "开标,公告这周三就挂出来。他们现在的系统是鼎捷做的,鼎捷这次肯定还要来,然后金蝶的人上个月也来聊过。生产总监最头疼的"
             "就是,月底赶订单的时候,系统老是卡,一卡就是半天。",
             {"min": 1_600_000, "max": 1_600_000}, "2027-03-29", ["鼎捷", "金蝶"], ["技术顾虑"], ["生产总监", "设备科科长"]),
    _summary(THU, "呃,那个,今天在杭州一家民营医院,跟院长聊了半个多小时。院长挺爽快的,说价钱不是最要紧的,关键是病人的隐私,病历这些"
             "东西一定不能流出去,而且将来卫健委来检查得能过。预算大概三百万左右吧,嗯,他们打算九月底之前招标,具体哪天还没定。竞争"
             "对手的话,听说东软也在跟,华为云也来过一次。",
             {"min": 3_000_000, "max": 3_000_000}, None, ["华为"], ["数据安全", "合规"], ["院长"]),
    _summary(SAT, "年底了,简单说两句。那个物流公司的仓储系统,预算他们一开始说八十万,后来跟老板汇报完又说是九十五万,以九十五万为准。"
             "开标时间是一月十号。客户的仓储经理提了两点,一个是双十一那种大促的时候扫码枪不能掉线,另一个是希望能按他们现在的作业"
             "流程来设计。用友和金蝶都在报,浪潮这次说不参与了。",
             {"min": 950_000, "max": 950_000}, "2029-01-10", ["用友", "金蝶"], ["技术顾虑", "定制需求"], ["仓储经理"]),
    _summary(MON, "说一下那个区教育局的事啊。我们这次是和中兴联合体投标,中兴负责网络,我们负责平台。对面主要是华为,还有新华三的一个"
             "代理。局里的信息中心主任说这个项目不超过六百万,钱是分两年拨下来的。他们最关心两点,第一是所有学生的数据必须放在局里的"
             "机房,第二是开学前也就是九月一号之前一定要全部上线。开标是下个月十五号。",
             {"min": 6_000_000, "max": 6_000_000}, "2027-04-15", ["华为", "新华三"], ["数据安全", "交付周期"],
             ["信息中心主任"]),
    _summary(THU, "今天去的是一家城投公司,见了他们副总经理和财务总监。财务总监说得很直白,我们的报价比他们心理价位高了快二十万,希望"
             "再往下降一降,还有就是付款得走他们的审批,一般要三个月。预算说是一百二十万上下。什么时候招标还不清楚。",
             {"min": 1_200_000, "max": 1_200_000}, None, [], ["价格", "付款方式"], ["副总经理", "财务总监"]),
    _summary(MON, "嗯,客户那边节奏很慢,今天就是去送了个资料,预算和招标的事一个字都没提。", None, None, [], [], []),
    _summary(MON, "汇报一下港务局的情况。开标本来是三月二十五号,哦,我记错了,是三月二十八号。预算控制价八百八十万。竞争的有阿里云、"
             "腾讯云,还有一家本地的集成商。局长比较在意国产化,服务器和操作系统都要用国产的。",
             {"min": 8_800_000, "max": 8_800_000}, "2027-03-28", ["阿里云", "腾讯云"], ["合规"], ["局长"]),
    _summary(SAT, "周末还在加班。那个连锁药店的会员系统,预算五十万到六十万,下周二开标。他们采购总监说,金额倒是其次,主要担心药品数据"
             "要符合药监的追溯要求,还有门店那么多,出了故障能不能两小时内有人到。",
             {"min": 500_000, "max": 600_000}, "2029-01-02", [], ["合规", "售后响应"], ["采购总监"]),
    _summary(THU, "跟他们首席信息官王总聊的。他们现在的客户管理是自己开发的,这次想换,销售易、纷享销客都在接触。预算没透露,不过首席"
             "信息官说钱不是问题,他要的是能跟他们的ERP打通,数据实时同步。",
             None, None, ["销售易", "纷享销客"], ["技术顾虑"], ["首席信息官"]),
    _summary(MON, "那个农业科学院,呃,院长和办公室主任都在。他们想做一个科研数据平台,预算四百三十万,明天上午就开标了,时间很赶,我们"
             "今晚得把标书弄完。院长最怕的是科研数据外泄。泛微这次也投了。",
             {"min": 4_300_000, "max": 4_300_000}, "2027-03-16", ["泛微"], ["数据安全"], ["院长", "办公室主任"]),
]


@pytest.mark.parametrize(("text", "expect", "ref"), SUMMARIES)
def test_long_spoken_summaries(text: str, expect: dict[str, Any], ref: str) -> None:
    check_fields(text, expect, ref)


# Cue phrases as ASR writes them: the same syllables, the wrong characters (words of their own are left alone).
ASR_CUES = [
    ("客户很在意受后服务", ["售后响应"]),
    ("要过等宝三级", ["合规"]),
    ("担心并法量太大系统扛不住", ["技术顾虑"]),
    ("身份证号要拖敏", ["数据安全"]),
    ("财务问涨期能不能放到六十天", ["付款方式"]),
    ("要求派人住场", ["售后响应"]),
    ("他们很看重性价必", ["价格"]),
    ("新系统要跟老系统队接", ["技术顾虑"]),
]


@pytest.mark.parametrize(("text", "labels"), ASR_CUES, ids=[t for t, _ in ASR_CUES])
def test_concern_cues_misspelled_by_asr_are_heard_by_sound(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


# A thing and what is said of it, in one clause, in the client's everyday words (issue #22, round two).
CONCERN_PARTS = [
    ("他们觉得我们的培训费收得太狠了。", ["价格"]),
    ("老板说这个价他那边肯定批不下来。", ["价格"]),
    ("客户问实施费能不能再减一点。", ["价格"]),
    ("问为什么我们比同行多出二十万。", ["价格"]),
    ("客户说这个项目从立项到用起来最多给两个月。", ["交付周期"]),
    ("他们问一般多少天能部署完。", ["交付周期"]),
    ("工厂九月投产,系统得跟着一起开起来。", ["交付周期"]),
    ("客户问报修以后多久有人过来。", ["售后响应"]),
    ("他们问在本市有没有办事处。", ["售后响应"]),
    ("之前那家的客服问题反映了三个月都没人解决。", ["售后响应"]),
    ("客户担心以后单据多了查询越用越慢。", ["技术顾虑"]),
    ("他们的网络是隔离的,问我们的系统在里面能不能正常跑。", ["技术顾虑"]),
    ("客户怕切换那天老账导不全。", ["技术顾虑"]),
    ("他们的配方是机密,不能让外人拿到。", ["数据安全"]),
    ("客户怕业务员走的时候把客户电话抄走。", ["数据安全"]),
    ("员工不能把文件下载到自己电脑上。", ["数据安全"]),
    ("他们每个分公司的核算方式都不同,系统都得照顾到。", ["定制需求"]),
    ("客户希望系统照着他们的排班方式配。", ["定制需求"]),
    ("省里要来查,系统得先做等级测评。", ["合规"]),
    ("他们今年的服务器要换成麒麟的系统。", ["合规"]),
    ("客户问能不能先免费用两个月,好了再买。", ["付款方式"]),
    ("他们走集中支付,付款周期四个月。", ["付款方式"]),
    ("客户想按年租,每年交一笔服务费。", ["付款方式"]),
    ("客户说别家都比我们低两三成。", ["价格"]),
]


@pytest.mark.parametrize(("text", "labels"), CONCERN_PARTS, ids=[t for t, _ in CONCERN_PARTS])
def test_a_concern_said_in_everyday_words(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


# A bare noun is a concern only when its clause says something of it.
WEAK_NOUNS = [
    ("价格我们下周报过去。", []),
    ("客户最在意的是价格。", ["价格"]),
    ("我们公司的售后服务中心下个月搬家。", []),
    ("客户要求售后必须在本地。", ["售后响应"]),
    ("他们要查权限变更的记录吗?", ["数据安全"]),
    ("客户问支不支持国产的数据库。", ["合规"]),
]


@pytest.mark.parametrize(("text", "labels"), WEAK_NOUNS, ids=[t for t, _ in WEAK_NOUNS])
def test_a_bare_noun_needs_something_said_of_it(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


# Whose worry it is: the rep's voice and a competitor's pitch last to the end of the sentence, unless the client
# speaks again; a clause reporting the client's question about us stays the client's.
VOICES = [
    ("我有点担心,我们下个月人手排不过来,怕交付拖。", []),
    ("我挺担心的,他们那个机房太旧,设备放进去不知道能不能正常跑。", []),
    ("我有点担心我们贵,客户倒是只问了多久能上线。", ["交付周期"]),
    ("说实话我们价格没优势,客户在意的是出了问题多久能到。", ["售后响应"]),
    ("我们售后团队人手不够,服务怕跟不上。", []),
    ("我跟客户讲了我们的等保资质。", []),
    ("用友那边跟客户说一个月就能上线,还能打八折。", []),
    ("金蝶号称不用改就能满足,客户担心的是数据放在哪。", ["数据安全"]),
    ("客户反复问,我们的人做维护的时候会不会看到病人资料。", ["数据安全"]),
    ("客户那边说实话没什么要求,就是希望月底之前能用起来。", ["交付周期"]),
]


@pytest.mark.parametrize(("text", "labels"), VOICES, ids=[t for t, _ in VOICES])
def test_only_the_clients_worries_count(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


RULED_OUT = [
    ("价格这块客户挺爽快的,没怎么还价。", []),
    ("上线时间不赶,慢慢来。", []),
    ("数据这块他们没什么讲究,放公有云也可以。", []),
    ("售后他们不担心,有自己的运维团队。", []),
    ("钱的事他倒不太纠结。", []),
    ("标准功能够用了,不用改。", []),
    ("价格他说差不多就行,不会死抠,就怕系统卡。", ["技术顾虑"]),
    ("价钱倒是其次,他们要的是三个月内上线。", ["交付周期"]),
]


@pytest.mark.parametrize(("text", "labels"), RULED_OUT, ids=[t for t, _ in RULED_OUT])
def test_a_concern_ruled_out_in_other_words(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


# Transcripts: Whisper puts a space (a segment break) or a comma inside a word; sound-alikes ASR confuses.
ASR_SPLITS = [
    ("他们现在用的是经 蝶的系统。", {"competitors": ["金蝶"]}),
    ("见了他们的采购 总监。", {"titles": ["采购总监"]}),
    ("信息,中心主任也在。", {"titles": ["信息中心主任"]}),
    ("预算八十 万,下周 四开标。", {**budget(800_000), "tender_date": "2026-11-26"}),
    ("预算一百一十万 到一百三十 万。", budget(1_100_000, 1_300_000)),
    ("预算八百万上下,下周三开标。", {**budget(8_000_000), "tender_date": "2026-11-25"}),
    ("现习中心主任关心等保。", {"titles": ["信息中心主任"], "concerns": ["合规"]}),
    ("数据绝对不能出省,这是底线。", {"concerns": ["数据安全"]}),
]


@pytest.mark.parametrize(("text", "expect"), ASR_SPLITS, ids=[t for t, _ in ASR_SPLITS])
def test_words_asr_splits_or_mishears(text: str, expect: dict[str, Any]) -> None:
    check_fields(text, expect)


# Round three of issue #22: each family of saying a concern the rules learned, and each way the new cue words
# appear where they are no concern; sentences written here, not taken from any fixture.
FAMILIES = [
    # where the data lives: the data and a place it must stay in or not leave for
    ("他们的病人数据只认本市的机房。", ["数据安全"]),
    ("客户说业务数据不能放到外省的云上。", ["数据安全"]),
    ("他们问我们的服务器放在哪个城市。", ["数据安全"]),
    ("客户说他们的服务器都在省里的机房,这次只加两台。", []),
    # staff who quit and take the customers with them
    ("老板说有个销售跳槽的时候把客户库整个拷走了。", ["数据安全"]),
    ("客户怕业务员辞职以后,他那些客户也跟着走。", ["数据安全"]),
    ("他们想防着员工把客户带走。", ["数据安全"]),
    ("客户把我们的宣传册带走了。", []),
    # the price coming down further
    ("他们问最终价格还有没有下浮的可能。", ["价格"]),
    ("客户说能再让三个点就签。", ["价格"]),
    ("他们觉得一年的运维费收得太多。", ["价格"]),
    ("客户问能不能打个八折。", ["价格"]),
    ("去年他们的差旅费用多了一些。", []),
    # when the money comes: after acceptance, in instalments, all at once
    ("他们说要等验收合格以后才能付。", ["付款方式"]),
    ("客户想分三次给钱。", ["付款方式"]),
    ("合同款他们要分两年结。", ["付款方式"]),
    ("月底他们要结账,这周没空。", []),
    # the system bending to their flow
    ("客户说系统要适应他们的审批流程。", ["定制需求"]),
    ("他们不想迁就软件自带的那一套。", ["定制需求"]),
    ("检测报告要符合药监的要求。", ["合规"]),
    # peaks: month-end close, volume several times the usual
    ("客户说月末几百个门店一起结账,系统老转圈。", ["技术顾虑"]),
    ("他们说促销那几天单量是平时的五倍,怕系统撑不下来。", ["技术顾虑"]),
    ("他们问五千人同时在线的时候响应快不快。", ["技术顾虑"]),
    # how long until someone is there to repair
    ("客户问设备坏了,多长时间能有人赶过去。", ["售后响应"]),
    ("他们说以前的厂家修一台机器要等一个星期。", ["售后响应"]),
    ("客户说之前报修,工程师三天才到。", ["售后响应"]),
    # acceptance by a date; inspections
    ("他们要求月底之前必须验收。", ["交付周期"]),
    ("客户说下半年巡视组要来,系统记录得经得起查。", ["合规"]),
    # longer spoken forms: a condition is no ruling out; a weak noun gives way to a longer reading starting with it
    ("客户说系统跑一个月没问题了才付。", ["付款方式"]),
    ("客户说监管每年都来查一次数据。", ["合规"]),
    ("他们想越快越好,下个月就能用上。", ["交付周期"]),
    ("客户的财务说他们一律月结九十天。", ["付款方式"]),
    ("财务说月结要能一键出报表。", []),
    ("他们说周末晚上会员集中来核销,页面半天出不来。", ["技术顾虑"]),
    ("客户说每个子公司的规矩都不太一样,系统得分别配。", ["定制需求"]),
    ("他们在乡镇,希望我们在县里有个点。", ["售后响应"]),
    ("客户说信创适配过的才能采购。", ["合规"]),  # 适配 here is a certification, no compatibility worry
    ("他们说会员卡和银行卡都要能绑定。", []),  # the 卡 of 银行卡 is no system stalling
    ("客户想把几套系统的数据汇到一起,不要再有孤岛。", ["技术顾虑"]),
    ("他们说项目一验收团队就撤了,这次要原班人马维护。", ["售后响应"]),
    ("他们说最晚月底之前得能用。", ["交付周期"]),
    ("之前的系统能用,就是有点旧。", []),  # 之前 opening the text is 'previously'
    ("他们说数据放哪也不管,看谁好用。", []),
]


@pytest.mark.parametrize(("text", "labels"), FAMILIES, ids=[t for t, _ in FAMILIES])
def test_a_concern_family_of_round_three(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


RULED_OUT_3 = [
    ("工期他们很宽松,明年都行。", []),
    ("数据放哪他们说没关系,我们定。", []),
    ("二次开发他们不需要,标准的够了。", []),
    ("等保去年已经过了,这次不涉及。", []),
    ("客户没嫌贵,只问了什么时候签。", []),
    ("价格他们觉得合理,关键是要能跟老系统对接。", ["技术顾虑"]),
]


@pytest.mark.parametrize(("text", "labels"), RULED_OUT_3, ids=[t for t, _ in RULED_OUT_3])
def test_a_concern_ruled_out_round_three(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


# A right transcript is not respelled into a cue that sounds the same: the written characters already read as
# plain words (a grammatical character would change, or only the one beside 太/就/是 would).
RESPELLING_DAMAGE = [
    ("客户担心我们的排期太满,轮不到他们。", ["交付周期"]),
    ("这次是用浪潮的服务器去投。", []),
    ("年底前不弄完,明年的钱就没了。", ["交付周期"]),
    ("他们只问了一期用的是什么设备。", []),
    ("今天这家挺急的,想尽快定下来。", []),
]


@pytest.mark.parametrize(("text", "labels"), RESPELLING_DAMAGE, ids=[t for t, _ in RESPELLING_DAMAGE])
def test_a_right_word_is_not_respelled_into_a_cue(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


def test_a_bare_no_between_two_values_is_a_self_correction() -> None:
    check_fields("预算四十万,不是,是四十五万。", budget(450_000))
    check_fields("开标下周二,不,下周三。", {"tender_date": "2026-11-25"})


def test_a_tender_cue_with_its_own_date_after_it_is_not_the_earlier_dates() -> None:
    # a transcript with pauses for commas: the visit's 下周二 stands before 招标, but 招标 has its own date (定在…)
    check_fields("下周二再去拜访一次 招标定在12月10号 预算60万", {"tender_date": "2026-12-10"})
    check_fields("下周三 开标,十五号演示。", {"tender_date": "2026-11-25"})


# Round four of issue #22: concern families in words the rules had not met (tuning batches nine to fourteen),
# written here in other sentences.
FAMILIES_4 = [
    ("客户说系统只能装在本市的机房里。", ["数据安全"]),
    ("他们要求员工看到的手机号中间几位得遮起来。", ["数据安全"]),
    ("他们不同意把东西放到公有云上。", ["数据安全"]),
    ("客户问能不能给个友情价。", ["价格"]),
    ("他们想把钱分两回给,上线一回验收一回。", ["付款方式"]),
    ("他们一分钱都不想提前给。", ["付款方式"]),
    ("审批得顺着他们的来,层级跟别人不一样。", ["定制需求"]),
    ("标准版的功能太少,他们用不了。", ["定制需求"]),
    ("他们门店一开门几百台收银机一起登录,以前老是登不上。", ["技术顾虑"]),
    ("换系统的时候不能影响营业。", ["技术顾虑"]),
    ("他们问报修以后几个钟头能有人到。", ["售后响应"]),
    ("以前那家出了事就推来推去。", ["售后响应"]),
    ("他们嫌我们说的八个月太久了。", ["交付周期"]),
    ("会计师事务所每年都来,每一笔都得能查到是谁改的。", ["合规"]),
]


@pytest.mark.parametrize(("text", "labels"), FAMILIES_4, ids=[t for t, _ in FAMILIES_4])
def test_a_concern_family_of_round_four(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


RULED_OUT_4 = [
    ("价格上他们没卡我们,只要求年前能用上。", ["交付周期"]),
    ("价格他们没怎么纠结。", []),
    ("售后他们自己能搞定。", []),
    ("等保他们去年就过了。", []),
    # a condition is no ruling out: 要是…就好办了
    ("客户说要是能把维护费免了就好办了。", ["价格"]),
    # funding in two parts is how the budget arrives, not how we are paid
    ("钱是分两期拨下来的。", []),
    # 年底结账 is the client's peak, not a payment term
    ("年底结账那几天系统老是卡。", ["技术顾虑"]),
    # 数据库 is no data
    ("数据库必须是国内厂商的。", ["合规"]),
]


@pytest.mark.parametrize(("text", "labels"), RULED_OUT_4, ids=[t for t, _ in RULED_OUT_4])
def test_a_concern_ruled_out_or_not_a_concern_round_four(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


def test_a_competitors_price_stated_by_the_rep_is_not_the_clients_worry() -> None:
    check_fields("华为那边报了一百五十万,比我们低。客户主要问售后能不能驻场。", {"concerns": ["售后响应"]})
    # told by the client it is: someone is reported speaking before the vendor
    check_fields("客户说用友报的比我们低,问我们能不能再降一点。", {"concerns": ["价格"]})


def test_this_projects_share_said_as_what_it_may_use_is_the_budget() -> None:
    check_fields("今年信息化一共给了五百万,这个项目能用的是一百八十万。", budget(1_800_000))


# Round five of issue #22 (tuning batches fifteen to seventeen), written here in other sentences.
FAMILIES_5 = [
    ("他们问能不能把价格再往下走一点,最好我们能给到九十万。", ["价格"]),
    ("老板说你们再少个五万,这事就定了。", ["价格"]),
    ("客户问有没有返点。", ["价格"]),
    ("他们付款要走财务的流程,一般要两个月。", ["付款方式"]),
    ("他们的意思是签合同先给两成,验收给七成,剩下的压一年。", ["付款方式"]),
    ("他们八月一号要正式启用新系统。", ["交付周期"]),
    ("客户说开学前设备必须到位。", ["交付周期"]),
    ("他们问下了单到能用要几个礼拜。", ["交付周期"]),
    ("他们说以前报个故障,要等三天才有回音。", ["售后响应"]),
    ("客户问我们在当地有没有办事处。", ["售后响应"]),
    ("客户问有事的话一个电话能不能叫到人。", ["售后响应"]),
    ("他们怕结算那几天系统慢得动不了。", ["技术顾虑"]),
    ("客户说老系统去年就崩过两回。", ["技术顾虑"]),
    ("他们要把十年的老数据读过来,一条都不能少。", ["技术顾虑"]),
    ("他们的网必须跟互联网断开,不能连外网。", ["数据安全"]),
    ("客户说工资表只能人事自己看,别的部门不能看。", ["数据安全"]),
    ("他们怕业务员走之前把客户电话都抄走。", ["数据安全"]),
    ("他们问你们的工程师能不能登到我们后台。", ["数据安全"]),
    ("看板上的指标他们自己定。", ["定制需求"]),
    ("环保局每个季度都来查,数据要留三年。", ["合规"]),
    ("每一笔改动都得能追到具体的人。", ["合规"]),
]


@pytest.mark.parametrize(("text", "labels"), FAMILIES_5, ids=[t for t, _ in FAMILIES_5])
def test_a_concern_family_of_round_five(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


NOT_A_CONCERN_5 = [
    # a negated fuss verb with a degree word rules the concern out
    ("价格上他们没怎么计较。", []),
    ("交付时间他们并不太在意。", []),
    # 月结那几天 is a period (the peak), not a credit term
    ("月结那几天系统老是卡。", ["技术顾虑"]),
    # a figure the client can give is their budget, not a price asked of us
    ("客户说最多能给到八十万。", []),
    # a network isolated from the outside is the setting a system must run in, not a data worry
    ("他们的网络是内外网隔离的,问我们的系统能不能正常跑。", ["技术顾虑"]),
    # what lasts is not when it arrives; a thing lost is not a vendor gone
    ("他们问这批设备能用多久。", []),
    ("那个老系统的源代码都找不到了,要能把数据读过来。", ["技术顾虑"]),
    # a go-live word after a demand with no time limit is no deadline
    ("服务必须到位。", []),
    # after delivery, a limit on installing is 交付周期, not a credit term
    ("供应商得保证到货以后七天内装完。", ["交付周期"]),
]


@pytest.mark.parametrize(("text", "labels"), NOT_A_CONCERN_5, ids=[t for t, _ in NOT_A_CONCERN_5])
def test_a_concern_ruled_out_or_not_a_concern_round_five(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


BUDGET_5 = [
    # money the client means to spend, or had approved, said without 预算
    ("他们打算花个四十万左右。", budget(400_000)),
    ("客户说批下来的是两百三十万。", budget(2_300_000)),
    ("他们说钱不多,也就二十来万。", budget(200_000)),
    # a total after its parts replaces them
    ("预算分软硬件,软件五十万,硬件三十万,加起来八十万。", budget(800_000)),
    # a classifier is no amount: 分两块 is two parts
    ("预算分两块,一块给软件,一块给硬件,总共一百二十万。", budget(1_200_000)),
    # a self-correction cut short (哦不,)
    ("预算七十万,哦不,七十五万。", budget(750_000)),
]


@pytest.mark.parametrize(("text", "expect"), BUDGET_5, ids=[t for t, _ in BUDGET_5])
def test_budget_round_five(text: str, expect: dict[str, Any]) -> None:
    check_fields(text, expect)


TENDER_5 = [
    # a tender cue right after a past marker is a tender already held
    ("上次那次招标十月九号开的,流标了,重新开标定在十二月二号。", {"tender_date": "2026-12-02"}),
    ("去年招标是十二月五号,今年开标定在十二月十一号。", {"tender_date": "2026-12-11"}),
    # a self-correction cut short
    ("开标下周二,哦不,下周四。", {"tender_date": "2026-11-26"}),
]


@pytest.mark.parametrize(("text", "expect"), TENDER_5, ids=[t for t, _ in TENDER_5])
def test_tender_date_round_five(text: str, expect: dict[str, Any]) -> None:
    check_fields(text, expect)


def test_a_short_form_after_the_full_title_is_the_same_person() -> None:
    check_fields("见了他们的副总经理和技术总监,副总说话很直。", {"titles": ["副总经理", "技术总监"]}, ordered=True)
    check_fields("总工程师也在,总工问了很多细节。", {"titles": ["总工程师"]}, ordered=True)


LONG_SPOKEN_5 = [
    # our quote, then the client calling it high, is the client's price worry; 没说贵 is not
    ("我们报了一百二十万,他说高了,得再掂量掂量。", ["价格"]),
    ("我们报了一百二十万,客户没说贵。", []),
    # data sent to a regulator is an obligation, not a leak
    ("监测数据要实时上传到环保局的平台,出错了要被处罚。", ["合规"]),
    ("案卷和庭审录像一点都不能离开院里的机房。", ["数据安全"]),
    # a crowd at one hour and a system that cannot keep up
    ("中午大家扎堆来点餐,怕系统反应不过来。", ["技术顾虑"]),
    # unveiled by a date that cannot move
    ("平台得赶在展会之前亮相,那个日子是死的。", ["交付周期"]),
    # data that must land in the province is no go-live
    ("所有的数据都得在本省落地。", ["数据安全"]),
]


@pytest.mark.parametrize(("text", "labels"), LONG_SPOKEN_5, ids=[t for t, _ in LONG_SPOKEN_5])
def test_a_concern_in_long_spoken_form_round_five(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


def test_a_tender_date_made_precise_replaces_the_rough_one() -> None:
    check_fields("他们说十二月十号前开标,嗯,具体是十二月八号。", {"tender_date": "2026-12-08"})


CONCERNS_6 = [
    # a clause that only names the topic is ruled on in the next one
    ("说到驻场的事,他们讲无所谓。", []),
    ("至于数据存哪儿,院长说都行。", []),
    # accepting the price, or leaving payment to us, rules the concern out; refusing it does not
    ("价钱他们能接受。", []),
    ("价钱他们不能接受,觉得太高了。", ["价格"]),
    ("付款按我们的来就行。", []),
    # a span of time with delivery not done in it: a rollout that dragged, or an ultimatum
    ("上一家做了大半年都没上线,这回三个月上不了就换人。", ["交付周期"]),
    # a test result is patients' data, not an inspection; a mandated layout is a report format
    ("化验结果会不会被传到外头去。", ["数据安全"]),
    ("报表要做成他们厅里规定的样式。", ["定制需求"]),
    # offline use and a payday rush
    ("车间里经常没网,问断了网还能不能接着录。", ["技术顾虑"]),
    ("一到发工资那天就打不开。", ["技术顾虑"]),
    # an A-not-A question about a delay is no demand against one
    ("他问尾款能不能拖到明年再给。", ["付款方式"]),
]


@pytest.mark.parametrize(("text", "labels"), CONCERNS_6, ids=[t for t, _ in CONCERNS_6])
def test_a_concern_round_six(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


def test_a_character_governing_a_span_of_time_is_not_respelled_into_a_cue() -> None:
    # 满 (a full half year) sounds like the 慢 of 运行慢; a level after a misheard cue is still respelled
    check_fields("等系统运行满半年没出过问题再结清。", {"concerns": ["付款方式"]})
    check_fields("系统要过等宝三级。", {"concerns": ["合规"]})


TENDER_6 = [
    # the week, then the day with its week word again
    ("开标是下周的周三。", {"tender_date": "2026-11-25"}),
    ("下个礼拜的礼拜五开标。", {"tender_date": "2026-11-27"}),
    ("这周的周五开标。", {"tender_date": "2026-11-20"}),
    # a rough date, then a day inside its period said next: the precise one
    ("开标大概是月底,应该是二十八号。", {"tender_date": "2026-11-28"}),
    # ... but a day outside it is another event's, not a restatement
    ("开标是月底,下个月五号签合同。", {"tender_date": "2026-11-30"}),
]


@pytest.mark.parametrize(("text", "expect"), TENDER_6, ids=[t for t, _ in TENDER_6])
def test_tender_date_round_six(text: str, expect: dict[str, Any]) -> None:
    # said on Monday 11-16, where this week's Wednesday (11-18) and next week's (11-25) differ
    check_fields(text, expect, "2026-11-16T10:00:00+08:00")


LONG_SPOKEN_6 = [
    # a ruled-out phrase negated again is the concern said
    ("他们不是不在乎价格,是更在乎交付时间。", ["价格", "交付周期"]),
    # the rep's question, then the client and their title answering: the answer is the client's
    ("我问他有什么顾虑,他们的信息中心主任想了想说,最怕迁移的时候历史数据弄丢。", ["技术顾虑"]),
    # a word that sounds like a cue (饭点 ~ 返点) is left as written
    ("他们一般到了饭点就下班。", []),
    # a poor network, a system that must not fail, data only some may see, a lower price asked for
    ("山里的网络很差,好多地方信号都没有。", ["技术顾虑"]),
    ("系统绝对不能出事,停一分钟都是钱。", ["技术顾虑"]),
    ("工资数据只能人事部的人看。", ["数据安全"]),
    ("问有没有更低的价。", ["价格"]),
    # a call is no record: an engineer far away is a service worry
    ("打电话过去总说工程师在外地。", ["售后响应"]),
    # generous terms and no hard requirement rule a concern out
    ("工期他们给得挺宽。", []),
    ("他们对国产化没有硬性要求。", []),
    # the same as the others' price is no price worry
    ("价格他说跟别家比差不多。", []),
    # our people staying with them for years, paying a share at each yearly acceptance, a phone the system does not
    # support, a certification audit, uploads that break off at a peak
    ("他问我们的人能不能常年待在他们那儿。", ["售后响应"]),
    ("钱分三年给,每年验收一次给一次。", ["付款方式"]),
    ("跟新的手机根本不兼容。", ["技术顾虑"]),
    ("年底要迎接ISO的审核。", ["合规"]),
    ("晚上几百家店同时上传数据,经常传到一半就断了。", ["技术顾虑"]),
]


@pytest.mark.parametrize(("text", "labels"), LONG_SPOKEN_6, ids=[t for t, _ in LONG_SPOKEN_6])
def test_a_concern_in_long_spoken_form_round_six(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


LONG_SPOKEN_7 = [
    # a system that stops turning at the busy hour
    ("原来的系统一到中午就转不动,这个必须解决。", ["技术顾虑"]),
    # N年前 is "years ago", not "before the new year": an old server asked about is no delivery deadline
    ("那几台服务器是十年前买的,新系统能不能在上面跑起来?", ["技术顾虑"]),
    # reading the data of their machines is connecting to what they have
    ("新系统要能把车间这些设备的数据都读上来。", ["技术顾虑"]),
    # a phone that nobody answers after the vendor's people left is service, not a contact list taken away
    ("上一家公司的人一走,电话就没人接了。", ["售后响应"]),
    # payment that waits for an audit is a payment term, not an audit worry
    ("合同款要等市财政审计完了才能付。", ["付款方式"]),
    # data kept on the device only until the network is back is working offline, not data kept at home
    ("掉线的时候数据要先存在本地,来网了再传。", ["技术顾虑"]),
    # a past vendor's price that was cheap is no price worry
    ("去年那家报价倒是便宜,可是一用就卡。", ["技术顾虑"]),
    # contact details the system shows only in part are masking
    ("他们要求客户的联系方式在系统里看不到全的。", ["数据安全"]),
    # a hospital's grading (评三甲) is a compliance matter
    ("关键是别耽误他们评三甲。", ["合规"]),
    # rules they change themselves in the system are their own process
    ("考勤规则一年要改好几次,系统得让她们自己能改。", ["定制需求"]),
    # money granted by the province (钱是省里拨的) is no saving
    ("这次的钱是省里专项拨的,付给供应商的钱要按进度付。", ["付款方式"]),
    # everything kept in the province's machine room is data kept at home
    ("所有东西都得放在省里的机房。", ["数据安全"]),
    # a short verdict after the clause rules it out (不算紧)
    ("至于交货时间,他们说年底前装好就行,不算紧。", []),
    # ... but not a verdict on everything else (别的没提)
    ("最后定下来是十月底之前上线就行,别的没提。", ["交付周期"]),
    # what was named, then that none of it may leave
    ("图纸是他们的核心资产,一张都不能流出去。", ["数据安全"]),
    ("员工的身份证这些信息,我们的实施人员一律不许拷走。", ["数据安全"]),
    # members taken over to a rival by a manager who left
    ("有个店长跳槽,把整个店的会员全带到对手那去了。", ["数据安全"]),
    # our people on site every day is service
    ("系统上线以后头三个月,希望我们的人天天在现场。", ["售后响应"]),
    # a report format unlike the national standard is custom work, no compliance
    ("他们的报表要按集团的口径出,集团那套口径和国家标准不一样。", ["定制需求"]),
    # a yearly fee capped at a share of the contract is price
    ("以后的维保费每年不能超过合同额的百分之八。", ["价格"]),
    # results sent straight to the doctors' computers instead of copied by hand is connecting systems
    ("检验科的报告要能直接传到医生的电脑上,现在还要手抄。", ["技术顾虑"]),
    # payment through the treasury (集中支付) that is slow to arrive is payment, no peak load
    ("付款要走国库集中支付,到账慢,问我们能不能接受。", ["付款方式"]),
    # a budget fixed hard (卡死) is price, not a system that hangs; a delivery span said to be wide is no worry
    ("他们的预算是卡死的,八十万,一分都不能多。", ["价格"]),
    ("她说交货期倒是宽,明年三月前都行。", []),
    # one login for all their systems is connecting systems
    ("他们现在有七八个系统,新系统要能跟它们统一登录。", ["技术顾虑"]),
    # attack drills, penetration tests and holes are security; 国密 is compliance
    ("去年攻防演练内网被打穿了,这次上线前要先做渗透测试。", ["数据安全"]),
    ("你们的系统必须支持国密算法,这是集团的硬要求。", ["合规"]),
    # scheduling a repair is service, not a delivery span
    ("以前那家一有事就说要排期,两个礼拜才来人。", ["售后响应"]),
    # whether it runs on their old machines is technical; the source code to change it themselves is custom work
    ("他们的服务器都是五六年前买的,新系统在服务器上跑得动吗?", ["技术顾虑"]),
    ("想要我们把源代码也给他们,以后自己改。", ["定制需求"]),
    # money that follows the acceptance result is a payment term
    ("每年的服务费要跟着验收结果走,验收不合格就扣钱。", ["付款方式"]),
    # a company's own purchasing rule is no compliance; their standard process is no custom work
    ("他们公司规定所有的软件采购都要三家比价。", []),
    ("付款的话,按他们的标准流程,发票到了六十天内付。", ["付款方式"]),
    # live before a review is a delivery deadline
    ("新系统最好在评审前上线,至少要能演示。", ["交付周期"]),
    # settling once a year is a payment term
    ("他们习惯是一年一结,年底统一付。", ["付款方式"]),
    # taking figures straight from the machines' controllers is connecting systems
    ("新的MES要能从PLC里直接取数。", ["技术顾虑"]),
    # who owns the data and destroying the copies at the end is data security
    ("合同里要写明数据的所有权归他们,到期后要销毁备份。", ["数据安全"]),
    # price weighing heavily in the scoring is price
    ("这次的评分里价格占六十分,谁便宜谁占便宜。", ["价格"]),
    # a machine room with no space left is capacity
    ("他们现在的机房快满了,再放不下新服务器。", ["技术顾虑"]),
    # accepted up to a point and no further is still a price limit; a system that must be steady
    ("比别家贵个一两成他能接受,再多就不行了。", ["价格"]),
    ("系统一定要稳,去年那套三天两头出毛病。", ["技术顾虑"]),
    # a batch run that takes all night is performance
    ("系统要能批量算,之前那套一批算下来要一整晚。", ["技术顾虑"]),
    # a deadline for replacing everything with domestic systems is compliance, not delivery; records none of which
    # may be lost are a migration worry
    ("所有的系统都要在年底前完成国产化替代。", ["合规"]),
    ("他们的老系统里有二十年的档案,一份都不能丢。", ["技术顾虑"]),
    # invoices made out their way are a payment term, not custom work
    ("发票要按他们的要求开,钱也按季度付。", ["付款方式"]),
    # a vendor that may not last years is service, not a system that cannot hold
    ("特别看重我们公司的规模,怕我们也撑不了几年。", ["售后响应"]),
]


@pytest.mark.parametrize(("text", "labels"), LONG_SPOKEN_7, ids=[t for t, _ in LONG_SPOKEN_7])
def test_a_concern_in_long_spoken_form_round_seven(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


BUDGET_7 = [
    # our part of a joint project is the share that counts
    ("预算一共是四百万,我们这块一百六十万。", budget(1_600_000)),
    ("今年一共三百万,其中给信息化的是一百二十万,就是我们这个项目。", budget(1_200_000)),
]


@pytest.mark.parametrize(("text", "expect"), BUDGET_7, ids=[t for t, _ in BUDGET_7])
def test_budget_round_seven(text: str, expect: dict[str, Any]) -> None:
    check_fields(text, expect)


CONCERNS_8 = [
    # a record photographed or screenshotted and taken away is data leaving, like one copied away
    ("他们担心的是病人的化验单被医生随手拿手机拍走。", ["数据安全"]),
    ("客户怕业务员把客户名单截图发给别人。", ["数据安全"]),
    # data that cannot be carried over from the old system is a migration worry, not their way copied over
    ("他们最担心的是老的那套系统里十年的数据搬不过来。", ["技术顾虑"]),
    # our people made to come on site regularly is service
    ("他们要求我们的人在上线后半年里每周都去一次现场。", ["售后响应"]),
    # downtime during a move (ANNOTATION's 技术顾虑 cues): the business or a move, then its stopping
    ("客户担心搬机房的时候业务要停好几天。", ["技术顾虑"]),
    ("他们的生产一天都停不得。", ["技术顾虑"]),
    # the rep's own day off is no stopping of theirs
    ("我们下周二停一天,去客户那里。", []),
    # ruled out by not even asking, or no interest
    ("他们对定制没兴趣。", []),
    ("等保的事客户压根没问。", []),
    # a fee that keeps rising is price; a budget raised to a figure is not
    ("他们嫌我们的维保费一年比一年涨。", ["价格"]),
    ("预算涨到了两百万。", []),
    # the users growing is peak load
    ("他们担心用的人一多就会变慢。", ["技术顾虑"]),
    # a national or regulator's standard to meet is compliance
    ("他们要求系统要符合国家的医疗数据标准,不然过不了评审。", ["合规"]),
]


@pytest.mark.parametrize(("text", "labels"), CONCERNS_8, ids=[t for t, _ in CONCERNS_8])
def test_a_concern_round_eight(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


CONCERNS_9 = [
    # a short clause ending on a topic particle (售后嘛) is ruled on like 至于…: by a verdict two clauses on
    ("售后嘛,他们说我们在本地有人,放心。", []),
    ("售后嘛,他们说一定要在本地有人。", ["售后响应"]),
    # being at ease rules a concern out; not being at ease, or only on a condition, does not
    ("至于数据放在哪,客户说他们都放心。", []),
    ("至于数据放在哪,客户说他们不太放心。", ["数据安全"]),
    # a stop caused by lateness is the deadline, not a worry about stability
    ("他们的新车间九月投产,系统晚一天他们就得停一天工。", ["交付周期"]),
    # a report format a regulator sets is compliance, not custom work
    ("报表的格式是人民银行定的,一个字段都不能错。", ["合规"]),
    # price said by a reaction or a fear of overpaying
    ("他们说这个价老板看了直摇头。", ["价格"]),
    ("他们不想当冤大头。", ["价格"]),
    # paid a number of days after the invoice
    ("他们是收到发票六十天以后才打款。", ["付款方式"]),
    # installed and run again on other machines; nothing of theirs left behind on ours
    ("他们问以后换了服务器,我们的系统还能不能照样装上去跑。", ["技术顾虑"]),
    ("客户说项目结束以后,我们的电脑里不许留下他们的任何资料。", ["数据安全"]),
    # rules that change every year, which the system must follow
    ("他们的奖金算法年年变,系统得能跟着改。", ["定制需求"]),
    # leaving it to us rules the concern out
    ("上线时间他们说听我们安排。", []),
]


@pytest.mark.parametrize(("text", "labels"), CONCERNS_9, ids=[t for t, _ in CONCERNS_9])
def test_a_concern_round_nine(text: str, labels: list[str]) -> None:
    check_fields(text, {"concerns": labels}, ordered=True)


def test_a_value_the_client_takes_back_is_corrected() -> None:
    check_fields("预算八十万,他马上改口,九十万。", budget(900_000))
